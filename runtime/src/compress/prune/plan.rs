//! `PrunePlan`: which output channels each prunable layer keeps, saved as JSON for `compress!`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::select::check_kept;
use crate::compress::PruneError;

/// The `format` field of a plan file.
pub const PLAN_FORMAT: &str = "fasterai-prune-plan";
/// The `version` field of a plan file this build reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// One layer of a [`PrunePlan`]: its name, original width and the output channels it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPlan {
    /// The layer's field name in the model (`conv1`).
    pub name: String,
    /// The number of output channels before pruning.
    pub width: usize,
    /// The output channels kept, strictly increasing, each below `width`.
    pub kept: Vec<usize>,
}

impl LayerPlan {
    /// The width after pruning.
    pub fn new_width(&self) -> usize {
        self.kept.len()
    }

    /// Checks one entry on its own: width above 0 and valid kept indices.
    fn check(&self) -> Result<(), PruneError> {
        if self.width == 0 {
            return Err(PruneError::ZeroWidth { layer: self.name.clone() });
        }
        check_kept(&self.name, &self.kept, self.width)
    }
}

/// Which output channels each prunable layer keeps. Layers the plan does not name stay whole.
///
/// Built by [`PrunePlan::new`], [`PrunePlan::from_zero_filters`] or [`PrunePlan::from_scores`];
/// saved with [`PrunePlan::save`] in the format the [module docs](super) describe, which the
/// `compress!` macro reads at compile time to size the pruned type.
///
/// ```
/// use fasterai_runtime::compress::prune::{LayerPlan, PrunePlan};
/// let plan = PrunePlan::new(vec![
///     LayerPlan { name: "conv1".into(), width: 4, kept: vec![0, 3] },
///     LayerPlan { name: "conv2".into(), width: 8, kept: vec![1, 2, 5] },
/// ])?;
/// assert_eq!(plan.kept("conv2"), Some(&[1, 2, 5][..]));
/// plan.validate(&[("conv1", 4), ("conv2", 8), ("fc1", 16)])?;
/// assert!(plan.validate(&[("conv1", 4)]).unwrap_err().to_string().contains("valid names: conv1"));
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    layers: Vec<LayerPlan>,
}

/// The file form: the plan plus its format tag and version.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    format: String,
    version: u32,
    layers: Vec<LayerPlan>,
}

impl PrunePlan {
    /// A plan from its layers, in model order. Errors on an empty list, a width of 0, invalid kept
    /// indices or a layer given twice.
    pub fn new(layers: Vec<LayerPlan>) -> Result<Self, PruneError> {
        if layers.is_empty() {
            return Err(PruneError::EmptyPlan);
        }
        for (k, layer) in layers.iter().enumerate() {
            layer.check()?;
            if layers[..k].iter().any(|l| l.name == layer.name) {
                return Err(PruneError::DuplicateLayer { layer: layer.name.clone() });
            }
        }
        Ok(Self { layers })
    }

    /// The layers, in the order given.
    pub fn layers(&self) -> &[LayerPlan] {
        &self.layers
    }

    /// The plan of one layer.
    pub fn get(&self, layer: &str) -> Option<&LayerPlan> {
        self.layers.iter().find(|l| l.name == layer)
    }

    /// The output channels `layer` keeps, or `None` if the plan leaves it whole.
    pub fn kept(&self, layer: &str) -> Option<&[usize]> {
        self.get(layer).map(|l| l.kept.as_slice())
    }

    /// Checks the plan against a model described as `(prunable layer name, output width)` pairs:
    /// every layer of the plan must exist with the width it was planned for. Errors list the valid
    /// names; a width of 0 or a name given twice in the description is an error too.
    pub fn validate(&self, model: &[(&str, usize)]) -> Result<(), PruneError> {
        for (k, &(name, width)) in model.iter().enumerate() {
            if width == 0 {
                return Err(PruneError::ZeroWidth { layer: name.to_string() });
            }
            if model[..k].iter().any(|&(other, _)| other == name) {
                return Err(PruneError::DuplicateLayer { layer: name.to_string() });
            }
        }
        for layer in &self.layers {
            match model.iter().find(|&&(name, _)| name == layer.name) {
                None => {
                    return Err(PruneError::UnknownLayer {
                        layer: layer.name.clone(),
                        valid: model.iter().map(|&(name, _)| name.to_string()).collect(),
                    })
                }
                Some(&(_, width)) if width != layer.width => {
                    return Err(PruneError::WidthMismatch {
                        layer: layer.name.clone(),
                        plan_width: layer.width,
                        model_width: width,
                    })
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The plan as pretty-printed JSON (the file format).
    pub fn to_json(&self) -> String {
        let file =
            PlanFile { format: PLAN_FORMAT.to_string(), version: PLAN_VERSION, layers: self.layers.clone() };
        // A struct of strings and integers always serialises.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads a plan from JSON text; `origin` names the source in errors (a path, or `"<string>"`).
    pub fn from_json(text: &str, origin: &Path) -> Result<Self, PruneError> {
        let file: PlanFile = serde_json::from_str(text)
            .map_err(|source| PruneError::Json { path: origin.to_path_buf(), source })?;
        if file.format != PLAN_FORMAT || file.version != PLAN_VERSION {
            return Err(PruneError::PlanVersion {
                path: origin.to_path_buf(),
                format: file.format,
                version: file.version,
                expected_format: PLAN_FORMAT,
                expected_version: PLAN_VERSION,
            });
        }
        Self::new(file.layers)
            .map_err(|e| PruneError::InvalidPlan { path: origin.to_path_buf(), source: Box::new(e) })
    }

    /// Writes the plan as JSON to `path`, through a temporary file renamed into place.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PruneError> {
        let path = path.as_ref();
        crate::fsutil::write_atomic(path, self.to_json().as_bytes()).map_err(|source| PruneError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a plan written by [`PrunePlan::save`], checking its format, version and entries.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PruneError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PruneError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }
}

/// One line per layer: `conv1  32 → 16  (50.0% of the channels kept)`.
impl fmt::Display for PrunePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_width = self.layers.iter().map(|l| l.name.len()).max().unwrap_or(0);
        for layer in &self.layers {
            writeln!(
                f,
                "{:<name_width$}  {:>5} → {:<5} ({:.1}% of the channels kept)",
                layer.name,
                layer.width,
                layer.new_width(),
                100.0 * layer.new_width() as f64 / layer.width as f64
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::ScratchDir;

    fn layer(name: &str, width: usize, kept: &[usize]) -> LayerPlan {
        LayerPlan { name: name.into(), width, kept: kept.to_vec() }
    }

    fn example() -> PrunePlan {
        PrunePlan::new(vec![layer("conv1", 4, &[0, 3]), layer("conv3", 8, &[1, 2, 5])]).unwrap()
    }

    #[test]
    fn json_round_trip_through_a_file() {
        let dir = ScratchDir::new("prune-plan").unwrap();
        let path = dir.path().join("plan.json");
        let plan = example();
        plan.save(&path).unwrap();
        assert_eq!(PrunePlan::load(&path).unwrap(), plan);
        // The file is the documented format.
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["format"], PLAN_FORMAT);
        assert_eq!(value["version"], PLAN_VERSION);
        assert_eq!(value["layers"][1]["kept"], serde_json::json!([1, 2, 5]));
    }

    #[test]
    fn the_documented_example_reads() {
        let text = r#"{ "format": "fasterai-prune-plan", "version": 1,
            "layers": [ { "name": "conv1", "width": 32, "kept": [0, 1, 4] } ] }"#;
        let plan = PrunePlan::from_json(text, Path::new("<string>")).unwrap();
        assert_eq!(plan.get("conv1").unwrap().new_width(), 3);
        assert_eq!(plan.kept("conv2"), None);
    }

    #[test]
    fn display_lists_each_layer_with_both_widths() {
        let shown = example().to_string();
        assert!(shown.contains("conv1      4 → 2     (50.0% of the channels kept)"), "{shown}");
        assert!(shown.contains("conv3      8 → 3     (37.5% of the channels kept)"), "{shown}");
    }

    #[test]
    fn construction_errors() {
        let cases = [
            (PrunePlan::new(vec![layer("conv1", 0, &[])]), "`conv1` has width 0"),
            (PrunePlan::new(vec![layer("conv1", 4, &[])]), "`conv1` would keep no channel"),
            (PrunePlan::new(vec![layer("conv1", 4, &[2, 1])]), "sorted and unique"),
            (PrunePlan::new(vec![layer("conv1", 4, &[4])]), "out of range for width 4"),
            (PrunePlan::new(vec![layer("conv1", 4, &[1]), layer("conv1", 4, &[2])]), "`conv1` appears twice"),
        ];
        for (result, needle) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(needle), "{message} (wanted {needle})");
        }
    }

    #[test]
    fn validation_errors() {
        let plan = example();
        let cases = [
            (
                plan.validate(&[("conv1", 4), ("conv2", 8)]),
                "names `conv3`, which is not a prunable layer of the model; valid names: conv1, conv2",
            ),
            (
                plan.validate(&[("conv1", 4), ("conv3", 16)]),
                "made for `conv3` of width 8, but the model's `conv3` has width 16",
            ),
            (plan.validate(&[("conv1", 4), ("conv3", 8), ("fc1", 0)]), "`fc1` has width 0"),
            (plan.validate(&[("conv1", 4), ("conv3", 8), ("conv1", 4)]), "`conv1` appears twice"),
        ];
        for (result, needle) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(needle), "{message} (wanted {needle})");
        }
        plan.validate(&[("conv1", 4), ("conv2", 4), ("conv3", 8)]).unwrap();
    }

    #[test]
    fn reading_errors() {
        let dir = ScratchDir::new("prune-plan-errors").unwrap();
        let missing = dir.path().join("missing.json");
        let message = PrunePlan::load(&missing).unwrap_err().to_string();
        assert!(
            message.contains("could not read the prune plan") && message.contains("missing.json"),
            "{message}"
        );

        let origin = Path::new("p.json");
        let cases = [
            ("not json", "`p.json` is not a prune plan"),
            (
                r#"{"format":"fasterai-prune-plan","version":1,"layers":[],"extra":0}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"format":"fasterai-prune-plan","version":2,"layers":[]}"#,
                "version 2; this build reads `fasterai-prune-plan` version 1",
            ),
            (r#"{"format":"other","version":1,"layers":[]}"#, "of format `other`"),
            (
                r#"{"format":"fasterai-prune-plan","version":1,"layers":[{"name":"c","width":2,"kept":[1,1]}]}"#,
                "`p.json` is inconsistent: `c`: kept indices must be sorted",
            ),
        ];
        for (text, needle) in cases {
            let message = PrunePlan::from_json(text, origin).unwrap_err().to_string();
            assert!(message.contains(needle), "{message} (wanted {needle})");
        }

        // Saving into a directory that does not exist fails with the path.
        let message = example().save(dir.path().join("no/such/dir/plan.json")).unwrap_err().to_string();
        assert!(message.contains("could not write the prune plan"), "{message}");
    }
}
