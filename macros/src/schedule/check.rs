//! What the stages of `compress!` mean: known stages and options, ratios in range, stage order,
//! and the structural rewrites (prune, fold, factorize) applied to the model's IR. Every mistake
//! is reported on its token, all at once.

use std::path::PathBuf;

use proc_macro2::Span;
use syn::Ident;

use super::pair_syntax::{parse_pairs, PAIRS_FORM};
use super::parse::{Arg, Schedule, Stage, Value};
use super::plan_file::{self, PlanFile};
use crate::ctxt::Ctxt;
use crate::ir::rewrite::{self, RewriteError};
use crate::ir::{LayerKind, Model};

/// The stages `compress!` knows, in the order they usually appear.
pub const STAGES: &[&str] = &["distill", "sparsify", "prune", "fold", "factorize", "quantize"];

/// The named options of each stage (besides layer names for `prune` and `factorize`).
fn options(stage: &str) -> &'static [&'static str] {
    match stage {
        "distill" => &["teacher", "loss", "pairs", "epochs", "lr"],
        "sparsify" => &["granularity", "context", "criteria", "schedule", "epochs", "lr"],
        "prune" => &["plan", "context", "epochs", "lr"],
        "factorize" => &["energy", "epochs", "lr"],
        "quantize" => &["epochs", "lr"],
        _ => &[],
    }
}

/// Stages that change the model's type.
fn structural(stage: &str) -> bool {
    matches!(stage, "prune" | "fold" | "factorize")
}

/// The schedule after checking: the model the stages produce, and the plan file it read.
pub struct Checked {
    pub model: Model,
    /// The model after each structural stage, in order, for the generated conversions.
    pub steps: Vec<StructuralStep>,
    /// The plan file `prune(plan = ..)` read, to make cargo rebuild when it changes.
    pub plan_file: Option<PathBuf>,
}

/// One structural stage and the model it produces.
pub struct StructuralStep {
    /// `prune`, `fold` or `factorize`.
    pub stage: String,
    /// The model after the stage.
    pub model: Model,
    /// `factorize(.., energy = 90%)`: the share of `Σσ²` to keep, chosen at run time within the
    /// ranks of the type (which then are maximum ranks).
    pub energy: Option<u32>,
}

/// Checks every stage against `source` (the model named in the block) and applies the structural
/// ones. Returns `None` when anything was reported.
pub fn check(cx: &Ctxt, schedule: &Schedule, source: &Model) -> Option<Checked> {
    check_order(cx, schedule, source);
    let mut model = source.clone();
    let mut failed = false;
    let mut plan_file = None;
    let mut steps = Vec::new();
    for stage in &schedule.stages {
        let name = stage.name.to_string();
        if !STAGES.contains(&name.as_str()) {
            cx.error_spanned_by(
                &stage.name,
                format!("unknown stage `{name}`; the stages are: {}", STAGES.join(", ")),
            );
            continue;
        }
        check_common_options(cx, stage);
        if name == "distill" {
            feature_loss_needs_taps(cx, stage, &model);
            named_pairs(cx, stage, &model);
        }
        // After a failed stage the later ones are still checked, against the model before it.
        let next = match name.as_str() {
            "prune" => prune(cx, stage, &model, &mut plan_file),
            "fold" => report(cx, stage.name.span(), rewrite::fold(&model)),
            "factorize" => factorize(cx, stage, &model),
            _ => Some(model.clone()),
        };
        match next {
            Some(next) => {
                if structural(&name) {
                    let energy = if name == "factorize" { energy(cx, stage) } else { None };
                    steps.push(StructuralStep { stage: name, model: next.clone(), energy });
                }
                model = next;
            }
            None => failed = true,
        }
    }
    (!failed).then_some(Checked { model, steps, plan_file })
}

/// A feature loss (`Attention`, `FitNet`, ...) compares `#[tap]` maps: the student must tap some.
fn feature_loss_needs_taps(cx: &Ctxt, stage: &Stage, model: &Model) {
    if !super::runner::has_feature_loss(&stage.args) || model.layers.iter().any(|layer| layer.tapped) {
        return;
    }
    if let Some(loss) = named(stage, "loss") {
        cx.error_at(
            loss.span(),
            "this loss compares the student's #[tap] feature maps, but the model has no #[tap] field: \
             mark the layers to compare with #[tap] (the teacher's too), or use a logit loss such as SoftTarget",
        );
    }
}

/// `pairs = "student_tap -> teacher_tap, .."`: a well-formed string, with a feature loss, whose
/// student taps are `#[tap]` fields of the student. The teacher's taps are checked at run time,
/// before the first step (the teacher's fields are not known here).
fn named_pairs(cx: &Ctxt, stage: &Stage, model: &Model) {
    let Some(value) = named(stage, "pairs") else { return };
    let Value::Str(lit) = value else {
        cx.error_at(value.span(), format!("`pairs` is a string such as {PAIRS_FORM}"));
        return;
    };
    if !super::runner::has_feature_loss(&stage.args) {
        cx.error_spanned_by(
            lit,
            format!(
                "`pairs` only applies to feature losses ({}), which compare #[tap] feature maps; this stage's loss \
                 compares logits: drop `pairs`, or use a feature loss",
                super::runner::FEATURE_LOSSES.join(", ")
            ),
        );
        return;
    }
    let pairs = match parse_pairs(&lit.value()) {
        Ok(pairs) => pairs,
        Err(problem) => {
            cx.error_spanned_by(lit, format!("malformed `pairs`: {problem}; write {PAIRS_FORM}"));
            return;
        }
    };
    let tapped: Vec<&str> = model.layers.iter().filter(|l| l.tapped).map(|l| l.name.as_str()).collect();
    if tapped.is_empty() {
        return; // `feature_loss_needs_taps` said so.
    }
    for (student, _) in &pairs {
        if !tapped.contains(&student.as_str()) {
            cx.error_spanned_by(
                lit,
                format!(
                    "`{student}` is not a #[tap] field of the student; its #[tap] fields are: {}",
                    tapped.join(", ")
                ),
            );
        }
    }
}

/// `energy = 90%` of `factorize`: a share of `Σσ²` above 0.
fn energy(cx: &Ctxt, stage: &Stage) -> Option<u32> {
    let value = named(stage, "energy")?;
    match percent(cx, value)? {
        0 => {
            cx.error_at(value.span(), "`energy = 0%` keeps no singular value: give a share above 0, such as `90%`");
            None
        }
        p => Some(p),
    }
}

fn report(cx: &Ctxt, span: Span, result: Result<Model, RewriteError>) -> Option<Model> {
    result.map_err(|error| cx.error_at(span, error)).ok()
}

/// A stage given twice; `quantize` before `fold()` or before a structural stage.
fn check_order(cx: &Ctxt, schedule: &Schedule, source: &Model) {
    for (k, stage) in schedule.stages.iter().enumerate() {
        if schedule.stages[..k].iter().any(|earlier| earlier.name == stage.name) {
            cx.error_spanned_by(
                &stage.name,
                format!("stage `{}` is given twice: give each stage once, with all its options", stage.name),
            );
        }
    }
    let Some(at) = schedule.stages.iter().position(|s| s.name == "quantize") else { return };
    let quantize = &schedule.stages[at].name;
    if let Some(later) = schedule.stages[at + 1..].iter().find(|s| structural(&s.name.to_string())) {
        cx.error_spanned_by(
            quantize,
            format!(
                "`quantize` must come after every structural stage, but `{}` follows it: move `quantize` last",
                later.name
            ),
        );
        return;
    }
    let has_batch_norm =
        source.layers.iter().any(|l| matches!(l.kind, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. }));
    if has_batch_norm && !schedule.stages[..at].iter().any(|s| s.name == "fold") {
        cx.error_spanned_by(
            quantize,
            "`quantize` before `fold()`: the model has BatchNorms, which int8 layers cannot keep; add `fold()` before `quantize`",
        );
    }
}

/// Options every stage shares the spelling of: unknown names, `epochs`, `lr`, `context`.
fn check_common_options(cx: &Ctxt, stage: &Stage) {
    let name = stage.name.to_string();
    let known = options(&name);
    for (k, arg) in stage.args.iter().enumerate() {
        let key = match arg {
            Arg::Named { key, .. } | Arg::Typed { key, .. } => key,
            Arg::Positional(value) => {
                if !matches!(name.as_str(), "sparsify" | "prune" | "factorize") || k > 0 {
                    cx.error_at(value.span(), format!("`{name}` takes no positional argument here; {}", list_options(&name)));
                }
                continue;
            }
        };
        let key_name = key.to_string();
        if stage.args[..k].iter().any(|a| matches!(a, Arg::Named { key: other, .. } | Arg::Typed { key: other, .. } if *other == key_name)) {
            cx.error_spanned_by(key, format!("option `{key_name}` is given twice"));
            continue;
        }
        let layer_keys = matches!(name.as_str(), "prune" | "factorize");
        if !known.contains(&key_name.as_str()) && !layer_keys {
            cx.error_spanned_by(key, format!("unknown option `{key_name}` for `{name}`; {}", list_options(&name)));
            continue;
        }
        match (key_name.as_str(), arg) {
            ("teacher", Arg::Typed { .. }) => {}
            ("teacher", _) => cx.error_spanned_by(key, "write the teacher's type as `teacher: Type`"),
            (_, Arg::Typed { .. }) => cx.error_spanned_by(key, format!("write `{key_name} = value`")),
            ("epochs", Arg::Named { value, .. }) => match value {
                Value::Number { integer: Some(n), .. } if *n >= 1 => {}
                other => cx.error_at(other.span(), "`epochs` is a whole number of at least 1"),
            },
            ("lr", Arg::Named { value, .. }) => match value {
                Value::Number { value: lr, .. } if *lr > 0.0 && lr.is_finite() => {}
                other => cx.error_at(other.span(), "`lr` is a positive number such as `1e-4`"),
            },
            ("context", Arg::Named { value, .. }) => match value {
                Value::Call { name: v, args: None } if v == "local" || v == "global" => {}
                other => cx.error_at(other.span(), "`context` is `local` or `global`"),
            },
            _ => {}
        }
    }
}

fn list_options(stage: &str) -> String {
    let options = options(stage);
    let mut text = if options.is_empty() {
        format!("`{stage}` takes no options")
    } else {
        format!("the options of `{stage}` are: {}", options.join(", "))
    };
    match stage {
        "sparsify" | "prune" | "factorize" => text.push_str(", and one ratio first (`50%` or `0.5`)"),
        _ => {}
    }
    match stage {
        "prune" => text.push_str(", or `layer = width`"),
        "factorize" => text.push_str(", or `layer = rank`"),
        _ => {}
    }
    text
}

/// A ratio as a whole percentage: `50%` or `0.5`. Reports what is outside 0–100%.
fn percent(cx: &Ctxt, value: &Value) -> Option<u32> {
    let (percent, span) = match value {
        Value::Percent { value, span } => (*value, *span),
        Value::Number { value, integer: None, span } => (value * 100.0, *span),
        other => {
            cx.error_at(other.span(), "a ratio is a percentage such as `50%` or a fraction such as `0.5`");
            return None;
        }
    };
    if !(0.0..=100.0).contains(&percent) {
        cx.error_at(span, format!("the ratio {percent}% is outside 0–100%"));
        return None;
    }
    if (percent - percent.round()).abs() > 1e-9 {
        cx.error_at(span, format!("{percent}% is not a whole percentage: round it"));
        return None;
    }
    Some(percent.round() as u32)
}

/// `layer = N` arguments: (key, N), reporting values that are not whole numbers.
fn layer_sizes<'a>(cx: &Ctxt, stage: &'a Stage, model: &Model, what: &str) -> Vec<(&'a Ident, usize)> {
    let stage_name = stage.name.to_string();
    let known = options(&stage_name);
    let mut sizes = Vec::new();
    for arg in &stage.args {
        if let Arg::Named { key, value } = arg {
            if known.contains(&key.to_string().as_str()) {
                continue;
            }
            if !model.layers.iter().any(|layer| *key == layer.name) {
                let layers: Vec<String> = if stage_name == "prune" {
                    rewrite::prunable(model)
                } else {
                    model.layers.iter().filter(|l| matches!(l.kind, LayerKind::Linear { .. })).map(|l| l.name.clone()).collect()
                };
                cx.error_spanned_by(
                    key,
                    format!(
                        "`{key}` is neither an option of `{stage_name}` nor a layer of the model; {}; the layers are: {}",
                        list_options(&stage_name),
                        layers.join(", ")
                    ),
                );
                continue;
            }
            match value {
                Value::Number { integer: Some(n), .. } => sizes.push((key, *n as usize)),
                other => cx.error_at(other.span(), format!("`{key} = ..` sets the {what} of layer `{key}`: a whole number")),
            }
        }
    }
    sizes
}

/// Named arguments that are not options: layer names, right or wrong.
fn has_layer_args(stage: &Stage) -> bool {
    let known = options(&stage.name.to_string());
    stage.args.iter().any(|arg| matches!(arg, Arg::Named { key, .. } if !known.contains(&key.to_string().as_str())))
}

fn positional(stage: &Stage) -> Option<&Value> {
    match stage.args.first() {
        Some(Arg::Positional(value)) => Some(value),
        _ => None,
    }
}

fn named<'a>(stage: &'a Stage, name: &str) -> Option<&'a Value> {
    stage.args.iter().find_map(|arg| match arg {
        Arg::Named { key, value } if key == name => Some(value),
        _ => None,
    })
}

fn prune(cx: &Ctxt, stage: &Stage, model: &Model, plan_file: &mut Option<PathBuf>) -> Option<Model> {
    let ratio = positional(stage);
    let widths = layer_sizes(cx, stage, model, "width");
    let plan = named(stage, "plan");
    let global = matches!(named(stage, "context"), Some(Value::Call { name, .. }) if name == "global");
    if global && plan.is_none() {
        cx.error_spanned_by(
            &stage.name,
            "`context = global` decides each layer's width from training, which the compiler cannot know: \
             save a plan (`PrunePlan::save`) and write `prune(plan = \"plan.json\")`",
        );
        return None;
    }
    if let Some(plan) = plan {
        if ratio.is_some() || !widths.is_empty() {
            cx.error_at(plan.span(), "a plan gives every width: drop the ratio and the `layer = width` options");
            return None;
        }
        let Value::Str(path) = plan else {
            cx.error_at(plan.span(), "`plan` is a path in quotes, relative to the crate's Cargo.toml");
            return None;
        };
        let (file, read) = plan_file::read(path).map_err(|message| cx.error_spanned_by(path, message)).ok()?;
        *plan_file = Some(file);
        return apply_plan(cx, path, model, &read);
    }
    let mut current = match ratio {
        Some(value) => {
            let percent = percent(cx, value)?;
            report(cx, value.span(), rewrite::prune_percent(model, percent))?
        }
        // Every `layer = width` was wrong (already reported).
        None if widths.is_empty() && has_layer_args(stage) => return None,
        None if widths.is_empty() => {
            cx.error_spanned_by(
                &stage.name,
                "`prune` needs a ratio (`prune(50%)`), widths (`prune(conv1 = 16)`) or a plan (`prune(plan = \"plan.json\")`)",
            );
            return None;
        }
        None => model.clone(),
    };
    // Each width alone first, so every wrong one is reported; then all together.
    let mut ok = true;
    for (key, width) in &widths {
        if let Err(error) = rewrite::prune(model, &[(&key.to_string(), *width)]) {
            cx.error_spanned_by(key, error);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let names: Vec<(String, usize)> = widths.iter().map(|(key, width)| (key.to_string(), *width)).collect();
    // Explicit widths replace the ratio's for their layers: pruning the ratio's result again
    // would count from the already-pruned width, so start from the widths against the source.
    if ratio.is_some() {
        let original_widths = names.iter().map(|(name, width)| (name.as_str(), *width));
        let others: Vec<(String, usize)> = rewrite::prunable(model)
            .into_iter()
            .filter(|name| !names.iter().any(|(n, _)| n == name))
            .filter_map(|name| out_width(&current, &name).map(|w| (name, w)))
            .collect();
        let all: Vec<(&str, usize)> = others.iter().map(|(n, w)| (n.as_str(), *w)).chain(original_widths).collect();
        current = report(cx, stage.name.span(), rewrite::prune(model, &all))?;
    } else {
        let all: Vec<(&str, usize)> = names.iter().map(|(n, w)| (n.as_str(), *w)).collect();
        current = report(cx, stage.name.span(), rewrite::prune(&current, &all))?;
    }
    Some(current)
}

fn out_width(model: &Model, name: &str) -> Option<usize> {
    model.layers.iter().find(|l| l.name == name).and_then(|l| match l.kind {
        LayerKind::Conv2D { out_channels, .. } => Some(out_channels),
        LayerKind::Linear { out_features, .. } => Some(out_features),
        _ => None,
    })
}

fn apply_plan(cx: &Ctxt, path: &syn::LitStr, model: &Model, plan: &PlanFile) -> Option<Model> {
    let mut widths = Vec::new();
    for layer in &plan.layers {
        match out_width(model, &layer.name) {
            Some(width) if width == layer.width => widths.push((layer.name.as_str(), layer.kept.len())),
            Some(width) => {
                cx.error_spanned_by(
                    path,
                    format!("the plan says `{}` has {} outputs, but the model's has {width}: the plan was made for another model", layer.name, layer.width),
                );
                return None;
            }
            None => {
                cx.error_spanned_by(
                    path,
                    format!(
                        "the plan names `{}`, which is not a prunable layer of the model; the prunable layers are: {}",
                        layer.name,
                        rewrite::prunable(model).join(", ")
                    ),
                );
                return None;
            }
        }
    }
    report(cx, path.span(), rewrite::prune(model, &widths))
}

fn factorize(cx: &Ctxt, stage: &Stage, model: &Model) -> Option<Model> {
    let ranks = layer_sizes(cx, stage, model, "rank");
    let mut chosen: Vec<(String, usize, Span)> = Vec::new();
    if let Some(value) = positional(stage) {
        let percent = percent(cx, value)?;
        // Every linear layer but the classifier (the producer no later layer consumes).
        let prunable = rewrite::prunable(model);
        for layer in &model.layers {
            if let LayerKind::Linear { in_features, out_features, .. } = layer.kind {
                let overridden = ranks.iter().any(|(key, _)| *key == layer.name.as_str());
                if prunable.contains(&layer.name) && !overridden {
                    chosen.push((layer.name.clone(), rewrite::rank_for(in_features, out_features, percent), value.span()));
                }
            }
        }
    } else if ranks.is_empty() && has_layer_args(stage) {
        return None;
    } else if ranks.is_empty() {
        cx.error_spanned_by(&stage.name, "`factorize` needs a ratio (`factorize(0.5)`) or ranks (`factorize(fc1 = 64)`)");
        return None;
    }
    chosen.extend(ranks.iter().map(|(key, rank)| (key.to_string(), *rank, key.span())));
    let mut current = model.clone();
    let mut ok = true;
    for (name, rank, span) in &chosen {
        match rewrite::factorize(&current, name, *rank) {
            Ok(next) => current = next,
            Err(error) => {
                cx.error_at(*span, error);
                ok = false;
            }
        }
    }
    ok.then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::model::tests::small_vgg;

    fn errors(block: &str) -> Vec<String> {
        let schedule: Schedule = syn::parse_str(block).unwrap();
        let cx = Ctxt::new();
        let _ = check(&cx, &schedule, &small_vgg());
        cx.check().err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
    }

    fn checked(block: &str) -> Model {
        let schedule: Schedule = syn::parse_str(block).unwrap();
        let cx = Ctxt::new();
        let model = check(&cx, &schedule, &small_vgg());
        cx.check().map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap();
        model.unwrap().model
    }

    #[test]
    fn the_design_example_checks_and_rewrites() {
        let model = checked(
            "pub Deployed = SmallVgg {
                distill(teacher: Teacher, loss = SoftTarget(temperature = 3.0, alpha = 0.5), epochs = 10, lr = 1e-4),
                sparsify(50%, granularity = filter, context = local, criteria = large_final, schedule = cos, epochs = 10, lr = 1e-5),
                prune(50%, epochs = 5, lr = 1e-5),
                fold(),
                factorize(0.5, epochs = 5, lr = 1e-5),
                quantize(epochs = 5, lr = 1e-5),
            }",
        );
        let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
        assert!(names.contains(&"fc1_in") && names.contains(&"fc2") && !names.contains(&"bn1"), "{names:?}");
        let fc1_in = model.layers.iter().find(|l| l.name == "fc1_in").unwrap();
        // fc1 pruned to 1568 → 128, then half of min(1568, 128) kept.
        assert_eq!(fc1_in.kind, LayerKind::Linear { in_features: 1568, out_features: 64, bias: false });
    }

    #[test]
    fn explicit_widths_override_the_ratio() {
        let model = checked("N = SmallVgg { prune(50%, conv4 = 48) }");
        assert_eq!(out_width(&model, "conv4"), Some(48));
        assert_eq!(out_width(&model, "conv1"), Some(16));
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let found = errors(
            "N = SmallVgg { prun(50%), prune(150%), fold(), fold(), factorize(conv1 = 4, speed = 2), quantize(lr = 0) }",
        );
        let expected = [
            "stage `fold` is given twice",
            "unknown stage `prun`; the stages are: distill, sparsify, prune, fold, factorize, quantize",
            "150% is outside 0–100%",
            "`lr` is a positive number",
            "factorize: `conv1` is a `Conv2D`",
            "`speed` is neither an option of `factorize` nor a layer of the model",
        ];
        for text in expected {
            assert!(found.iter().any(|e| e.contains(text)), "missing `{text}` in {found:#?}");
        }
    }

    #[test]
    fn order_and_context_rules() {
        assert!(errors("N = SmallVgg { quantize(), fold() }")[0].contains("`fold` follows it"));
        assert!(errors("N = SmallVgg { prune(50%), quantize() }")[0].contains("before `fold()`"));
        assert!(errors("N = SmallVgg { prune(50%, context = global) }")[0].contains("plan"));
        assert!(errors("N = SmallVgg { prune(fc2 = 5) }")[0].contains("never shrink"));
        assert!(errors("N = SmallVgg { prune(conv1 = 64) }")[0].contains("not between 1 and 32"));
        assert!(errors("N = SmallVgg { prune(conv9 = 4) }")[0].contains("the layers are: conv1, conv2, conv3, conv4, fc1"));
        assert_eq!(errors("N = SmallVgg { prune(conv9 = 4) }").len(), 1, "no secondary error");
        assert!(errors("N = SmallVgg { prune() }")[0].contains("needs a ratio"));
    }
}
