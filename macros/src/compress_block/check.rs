//! What the stages of `compress!` mean: known stages and options, ratios in range, stage order,
//! and the structural rewrites (prune, fold, factorize) applied to the model's IR. Every mistake
//! is reported on its token, all at once.

use std::path::PathBuf;

use proc_macro2::Span;

use fasterai_vocab::{self as vocab, parse_pairs, Compares, OptionValue, PAIRS_FORM};

use super::parse::{Arg, Key, Schedule, Stage, Value};
use super::plan_file::{self, PlanFile};
use crate::ctxt::Ctxt;
use crate::ir::rewrite::{self, RewriteError};
use crate::ir::{LayerKind, Model};

/// The named options of each stage (besides layer names for `prune` and `factorize`), from the
/// vocabulary the run time reads too.
fn options(stage: &str) -> Vec<&'static str> {
    vocab::stage(stage).map(|info| info.options.iter().map(|option| option.name).collect()).unwrap_or_default()
}

/// Stages that change the model's type.
fn structural(stage: &str) -> bool {
    vocab::stage(stage).is_some_and(|info| info.structural)
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
    if schedule.stages.is_empty() {
        cx.error_spanned_by(
            &schedule.name,
            format!(
                "the block has no stage, so `{}` would be a copy of `{}`: add stages such as `prune(50%), fold()`",
                schedule.name,
                super::parse::path_text(&schedule.model)
            ),
        );
        return None;
    }
    let mut model = source.clone();
    let mut failed = false;
    let mut plan_file = None;
    let mut steps = Vec::new();
    for (k, stage) in schedule.stages.iter().enumerate() {
        let name = stage.name.to_string();
        if schedule.stages[..k].iter().any(|earlier| earlier.name == stage.name) {
            continue; // Reported by `check_order`.
        }
        if vocab::stage(&name).is_none() {
            cx.error_spanned_by(&stage.name, format!("unknown stage `{name}`; the stages are: {}", vocab::stage_names()));
            continue;
        }
        check_common_options(cx, stage);
        if name == "sparsify" {
            sparsity(cx, stage);
        }
        if name == "distill" {
            feature_loss_needs_taps(cx, stage, &model);
            named_pairs(cx, stage, &model);
        }
        // After a failed stage the later ones are still checked, against the model before it.
        let next = match name.as_str() {
            "prune" => prune(cx, stage, &model, &mut plan_file),
            "fold" => fold(cx, stage, &model),
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
                vocab::losses_comparing(Compares::Features)
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
                if !vocab::stage(&name).is_some_and(|info| info.takes_ratio) || k > 0 {
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
        let kind = vocab::stage(&name).and_then(|info| info.option(&key_name)).map(|option| option.value);
        match (key_name.as_str(), arg) {
            (_, Arg::Named { value, .. }) if matches!(kind, Some(OptionValue::Word(_))) => {
                let Some(OptionValue::Word(words)) = kind else { unreachable!() };
                check_word(cx, &key_name, words, value);
            }
            ("loss", Arg::Named { value, .. }) => check_loss(cx, value),
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
            _ => {}
        }
    }
}

/// `criteria = large_final`: one name of `words`, written bare.
fn check_word(cx: &Ctxt, key: &str, words: &vocab::Words, value: &Value) {
    match value {
        Value::Call { name, args: None } if words.contains(&name.to_string()) => {}
        Value::Call { name, args: None } => cx.error_spanned_by(
            name,
            format!("unknown {} `{name}` for `{key}`; the valid names are: {}", words.what, words.list()),
        ),
        other => cx.error_at(other.span(), format!("`{key}` takes a name, one of: {}", words.list())),
    }
}

fn all_losses() -> String {
    format!(
        "{} (logits); {} (#[tap] feature maps)",
        vocab::losses_comparing(Compares::Logits),
        vocab::losses_comparing(Compares::Features)
    )
}

/// `loss = SoftTarget(temperature = 3.0, alpha = 0.5)`: a known loss, its own parameters, each in range.
fn check_loss(cx: &Ctxt, value: &Value) {
    let Value::Call { name, args } = value else {
        cx.error_at(
            value.span(),
            format!("`loss` is a distillation loss such as `SoftTarget(temperature = 3.0)`; the losses are: {}", all_losses()),
        );
        return;
    };
    // The run time also reads fasterai's spelling `DecoupledKd`.
    let written = name.to_string();
    let canonical = if written == "DecoupledKd" { "DecoupledKD" } else { written.as_str() };
    let Some(loss) = vocab::loss(canonical) else {
        cx.error_spanned_by(name, format!("unknown distillation loss `{name}`; the losses are: {}", all_losses()));
        return;
    };
    for arg in args.iter().flatten() {
        let Arg::Named { key, value } = arg else {
            cx.error_at(
                arg_span(arg),
                format!("write the parameters of `{name}` as `key = value`; they are: {}", loss.param_names()),
            );
            continue;
        };
        let Some(param) = loss.param(&key.to_string()) else {
            cx.error_spanned_by(
                key,
                format!("`{name}` has no parameter `{key}`; its parameters are: {}", loss.param_names()),
            );
            continue;
        };
        match value {
            Value::Number { value: v, .. } if param.range.accepts(*v) => {}
            other => cx.error_at(
                other.span(),
                format!("`{key}` of `{name}` is {} (default {})", param.range.describe(), param.default),
            ),
        }
    }
}

fn arg_span(arg: &Arg) -> Span {
    match arg {
        Arg::Positional(value) => value.span(),
        Arg::Named { key, .. } | Arg::Typed { key, .. } => key.span(),
    }
}

/// `sparsify(50%, ..)`: a target sparsity strictly between 0% (nothing zeroed) and 100% (every
/// weight zeroed).
fn sparsity(cx: &Ctxt, stage: &Stage) {
    let Some(value) = positional(stage) else {
        cx.error_spanned_by(&stage.name, "`sparsify` needs the target sparsity first: `sparsify(50%, ..)`");
        return;
    };
    match percent(cx, value) {
        Some(0) => cx.error_at(value.span(), "`sparsify(0%)` zeroes no weight: give a sparsity above 0%, such as `50%`, or remove the stage"),
        Some(100) => cx.error_at(value.span(), "`sparsify(100%)` zeroes every weight: give a sparsity below 100%, such as `50%`"),
        _ => {}
    }
}

/// `fold()`: the model must have a BatchNorm, or the stage returns an identical copy.
fn fold(cx: &Ctxt, stage: &Stage, model: &Model) -> Option<Model> {
    if !model.layers.iter().any(|l| matches!(l.kind, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. })) {
        cx.error_spanned_by(
            &stage.name,
            "`fold()` merges each BatchNorm into the layer before it, but the model has no BatchNorm \
             (or an earlier stage removed them): remove `fold()`",
        );
        return None;
    }
    report(cx, stage.name.span(), rewrite::fold(model))
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
        // `0` means what `0%` and `0.0` mean.
        Value::Number { integer: Some(0), span, .. } => (0.0, *span),
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
fn layer_sizes<'a>(cx: &Ctxt, stage: &'a Stage, model: &Model, what: &str) -> Vec<(&'a Key, usize)> {
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
                other => {
                    let max = model.layers.iter().find(|l| *key == l.name).and_then(|l| match l.kind {
                        LayerKind::Conv2D { out_channels, .. } if what == "width" => Some(out_channels),
                        LayerKind::Linear { out_features, .. } if what == "width" => Some(out_features),
                        LayerKind::Linear { in_features, out_features, .. } => Some(in_features.min(out_features)),
                        _ => None,
                    });
                    let range = match max {
                        Some(max) => format!("a whole number from 1 to {max}, such as `{}`", (max / 2).max(1)),
                        None => "a whole number".to_string(),
                    };
                    cx.error_at(other.span(), format!("`{key} = ..` sets the {what} of layer `{key}`: {range}"))
                }
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
    let mut ratio_percent = 0;
    let mut current = match ratio {
        Some(value) => {
            let percent = percent(cx, value)?;
            ratio_percent = percent;
            if percent == 0 && widths.is_empty() {
                cx.error_at(value.span(), "`prune(0%)` removes nothing: give a ratio above 0%, such as `50%`, or remove the stage");
                return None;
            }
            if percent == 100 {
                cx.error_at(
                    value.span(),
                    "`prune(100%)` would take every layer down to one channel: give a ratio below 100%, such as `50%`, \
                     or widths such as `prune(conv1 = 4)`",
                );
                return None;
            }
            let pruned = report(cx, value.span(), rewrite::prune_percent(model, percent))?;
            if pruned == *model && widths.is_empty() {
                let prunable = rewrite::prunable(model);
                let why = if prunable.is_empty() {
                    "no layer has channels it may lose: the classifier's are the classes, and channels added to \
                     the model's input through a skip connection keep the input's count"
                        .to_string()
                } else {
                    format!("{percent}% of each width rounds down to no channel; the prunable layers are: {}", prunable.join(", "))
                };
                cx.error_at(value.span(), format!("`prune({percent}%)` removes nothing: {why}"));
                return None;
            }
            pruned
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
    if ratio.is_none() && widths.iter().all(|(key, width)| out_width(model, &key.to_string()) == Some(*width)) {
        let (key, width) = widths[0];
        cx.error_spanned_by(
            key,
            format!("`{key} = {width}` keeps every output of `{key}`, so `prune` removes nothing: give a width below {width}"),
        );
        return None;
    }
    let names: Vec<(String, usize)> = widths.iter().map(|(key, width)| (key.to_string(), *width)).collect();
    let all: Vec<(&str, usize)> = names.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    // Explicit widths replace the ratio's for their layers' groups.
    let together = match ratio {
        Some(_) => rewrite::prune_percent_except(model, ratio_percent, &all),
        None => rewrite::prune(&current, &all),
    };
    match together {
        Ok(model) => current = model,
        // Two widths for one channel group: on the later key.
        Err(error @ RewriteError::SplitGroup { .. }) => {
            let RewriteError::SplitGroup { name, .. } = &error else { unreachable!() };
            let key = widths.iter().find(|(key, _)| *key == name).map(|(key, _)| *key);
            match key {
                Some(key) => cx.error_spanned_by(key, error),
                None => cx.error_spanned_by(&stage.name, error),
            }
            return None;
        }
        Err(error) => {
            cx.error_spanned_by(&stage.name, error);
            return None;
        }
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
    for (name, _) in &widths {
        if let Some(missing) = rewrite::coupled_with(model, name).into_iter().find(|m| !plan.layers.iter().any(|l| l.name == *m)) {
            cx.error_spanned_by(
                path,
                format!(
                    "the plan prunes `{name}` but not `{missing}`, which adds into the same channels through a skip \
                     connection: a plan lists every member of a channel group with the same kept channels \
                     (make it with `PrunePlan::from_criterion`, which does)"
                ),
            );
            return None;
        }
    }
    report(cx, path.span(), rewrite::prune(model, &widths))
}

fn factorize(cx: &Ctxt, stage: &Stage, model: &Model) -> Option<Model> {
    let ranks = layer_sizes(cx, stage, model, "rank");
    let mut chosen: Vec<(String, usize, Span)> = Vec::new();
    if let Some(value) = positional(stage) {
        let percent = percent(cx, value)?;
        if percent == 0 {
            cx.error_at(
                value.span(),
                "`factorize(0%)` removes no rank: each Linear would become two at full rank, a bigger model; \
                 give the share of ranks to remove, such as `factorize(50%)`",
            );
            return None;
        }
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
    if chosen.is_empty() {
        if ranks.is_empty() && !has_layer_args(stage) {
            cx.error_spanned_by(
                &stage.name,
                "`factorize` has nothing to split: the model's only Linear is its classifier, which keeps its \
                 outputs; remove the stage",
            );
        }
        return None;
    }
    let mut current = model.clone();
    let mut ok = true;
    for (name, rank, span) in &chosen {
        if let Some(LayerKind::Linear { in_features, out_features, .. }) = model.layers.iter().find(|l| l.name == *name).map(|l| l.kind) {
            let (full, split) = (in_features * out_features, rank * (in_features + out_features));
            if *rank >= 1 && *rank <= in_features.min(out_features) && split > full {
                let most = full / (in_features + out_features);
                cx.error_at(
                    *span,
                    format!(
                        "factorize: rank {rank} makes `{name}` bigger: two Linears of {split} parameters replace \
                         {full} (Linear<{in_features}, {out_features}>); choose a rank of at most {most}{}",
                        if positional(stage).is_some() { ", or a larger ratio such as `factorize(75%)`" } else { "" }
                    ),
                );
                ok = false;
                continue;
            }
        }
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
        let model = checked(crate::compress_block::parse::tests::DESIGN_EXAMPLE);
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
    fn stages_that_would_do_nothing_are_refused() {
        for zero in ["0%", "0.0", "0"] {
            let found = errors(&format!("N = SmallVgg {{ factorize({zero}) }}"));
            assert!(found.len() == 1 && found[0].contains("`factorize(0%)` removes no rank"), "{zero}: {found:?}");
            let found = errors(&format!("N = SmallVgg {{ prune({zero}) }}"));
            assert!(found.len() == 1 && found[0].contains("`prune(0%)` removes nothing"), "{zero}: {found:?}");
        }
        assert!(errors("N = SmallVgg { prune(100%) }")[0].contains("one channel"));
        assert!(errors("N = SmallVgg { prune(1.0) }")[0].contains("one channel"));
        assert!(errors("N = SmallVgg { prune(conv1 = 32) }")[0].contains("removes nothing"));
        assert!(errors("N = SmallVgg { prune(50%, conv1 = 32) }").is_empty(), "a full width beside a ratio is legitimate");
        assert!(errors("N = SmallVgg { sparsify(100%) }")[0].contains("every weight"));
        assert!(errors("N = SmallVgg { sparsify(epochs = 2) }")[0].contains("target sparsity first"));
        assert!(errors("N = SmallVgg { }")[0].contains("no stage"));
        assert!(errors("N = SmallVgg { fold(), fold() }").len() == 1, "a repeated stage is reported once");
        // fc1 is Linear<3136, 256>: ranks above 3136·256/3392 = 236 make it bigger.
        assert!(errors("N = SmallVgg { factorize(fc1 = 240) }")[0].contains("makes `fc1` bigger"));
        assert!(errors("N = SmallVgg { factorize(fc1 = 236) }").is_empty());
        assert!(errors("N = SmallVgg { distill(teacher: T, loss = SoftTarget(alpha = 0)) }")[0].contains("switch distillation off"));
    }

    #[test]
    fn word_values_are_checked_against_the_vocabulary() {
        let found = errors("N = SmallVgg { sparsify(50%, criteria = large_finale, schedule = cosine, granularity = vector, context = globl) }");
        for text in ["unknown criterion `large_finale`", "unknown schedule `cosine`", "unknown granularity `vector`", "unknown context `globl`"] {
            assert!(found.iter().any(|e| e.contains(text)), "missing `{text}` in {found:#?}");
        }
        let found = errors("N = SmallVgg { distill(teacher: T, loss = Atention(p = 2)) }");
        assert!(found[0].contains("Attention, FitNet"), "{found:?}");
        let found = errors("N = SmallVgg { distill(teacher: T, loss = Attention(p = 1.5, q = 2)) }");
        assert!(found[0].contains("`p` of `Attention` is a whole number") && found[1].contains("no parameter `q`"), "{found:?}");
        assert!(errors("N = SmallVgg { distill(teacher: T, loss = DecoupledKd(tckd = 2.0)) }").is_empty());
        let found = errors("N = SmallVgg { prune(conv1 = -4) }");
        assert!(found[0].contains("a whole number from 1 to 32"), "{found:?}");
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
