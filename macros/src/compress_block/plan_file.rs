//! Reads a prune plan (`prune(plan = "plan.json")`) at compile time.
//!
//! The format is the one `fasterai_runtime::compress::prune::PrunePlan::save` writes:
//! `{"format": "fasterai-prune-plan", "version": 1, "layers": [{"name": "conv1", "width": 32,
//! "kept": [0, 3, ...]}, ...]}`. Only the widths matter to the type (`kept.len()`); the indices
//! are checked here so a broken file fails at compile time, and used again at run time to copy
//! the kept filters. The path is relative to the directory of the crate's `Cargo.toml`.

use std::path::PathBuf;

use serde::Deserialize;
use syn::LitStr;

const FORMAT: &str = "fasterai-prune-plan";
const VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    format: String,
    version: u32,
    pub layers: Vec<LayerPlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPlan {
    pub name: String,
    pub width: usize,
    pub kept: Vec<usize>,
}

/// The absolute path and the checked plan, or a message saying what is wrong with the file.
pub fn read(path: &LitStr) -> Result<(PathBuf, PlanFile), String> {
    let relative = path.value();
    let base = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let file = base.join(&relative);
    let text = std::fs::read_to_string(&file)
        .map_err(|error| format!("cannot read the plan `{relative}`: {error} (the path is relative to the directory of the crate's Cargo.toml)"))?;
    let plan = parse(&text).map_err(|message| format!("the plan `{relative}` {message}"))?;
    Ok((file, plan))
}

pub fn parse(text: &str) -> Result<PlanFile, String> {
    let plan: PlanFile = serde_json::from_str(text).map_err(|error| format!("is not a prune plan: {error}"))?;
    if plan.format != FORMAT || plan.version != VERSION {
        return Err(format!(
            "has format `{}` version {}; this build reads `{FORMAT}` version {VERSION}",
            plan.format, plan.version
        ));
    }
    if plan.layers.is_empty() {
        return Err("lists no layer; save the plan made from the model you prune (PrunePlan::save)".to_string());
    }
    for (k, layer) in plan.layers.iter().enumerate() {
        if plan.layers[..k].iter().any(|l| l.name == layer.name) {
            return Err(format!("names `{}` twice", layer.name));
        }
        if layer.kept.is_empty() {
            return Err(format!("keeps no output of `{}`: keep at least one", layer.name));
        }
        let increasing = layer.kept.windows(2).all(|w| w[0] < w[1]);
        if !increasing || layer.kept.iter().any(|&i| i >= layer.width) {
            return Err(format!(
                "has invalid `kept` indices for `{}`: they must be strictly increasing and below its width {}",
                layer.name, layer.width
            ));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runtime_format_and_rejects_broken_files() {
        let plan = parse(r#"{"format":"fasterai-prune-plan","version":1,"layers":[{"name":"conv1","width":4,"kept":[0,3]}]}"#).unwrap();
        assert_eq!(plan.layers[0].kept.len(), 2);
        let wrong = parse(r#"{"format":"fasterai-prune-plan","version":1,"layers":[{"name":"c","width":4,"kept":[3,1]}]}"#);
        assert!(wrong.err().unwrap().contains("strictly increasing"));
        assert!(parse(r#"{"format":"x","version":1,"layers":[]}"#).err().unwrap().contains("version 1"));
        let empty = parse(r#"{"format":"fasterai-prune-plan","version":1,"layers":[]}"#);
        assert!(empty.err().unwrap().contains("lists no layer"));
    }
}
