//! Errors of the structural passes: folding BatchNorm (its error lives beside the arithmetic, in
//! `nn::fold`), factorizing a Linear, pruning filters.
//!
//! Every variant names the layer (the model's field name, as the generated code passes it) and
//! carries the values that were wrong, so a message reads without the source at hand.

use std::path::PathBuf;

pub use crate::nn::fold::FoldError;

/// Factorizing a Linear layer by truncated SVD failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FactorizeError {
    /// The rank asked for exceeds what a matrix of this shape has.
    #[error(
        "cannot factorize `{layer}` ({outputs}×{inputs}) at rank {rank}: the rank is at most \
         min(inputs, outputs) = {max}; lower the rank or the kept share"
    )]
    RankTooLarge {
        /// The layer.
        layer: String,
        /// The rank asked for.
        rank: usize,
        /// Inputs of the layer.
        inputs: usize,
        /// Outputs of the layer.
        outputs: usize,
        /// min(inputs, outputs).
        max: usize,
    },
    /// A rank of zero would cut every connection.
    #[error("cannot factorize `{layer}` at rank 0: the middle width must be at least 1")]
    ZeroRank {
        /// The layer.
        layer: String,
    },
    /// The rank a fixed or ratio rule chose does not fit the new layers' middle width.
    #[error(
        "cannot factorize `{layer}`: rank {rank} exceeds the middle width {capacity} of the \
         new layers; give a middle width of at least {rank} or remove a larger share"
    )]
    BeyondCapacity {
        /// The layer.
        layer: String,
        /// The rank the rule chose.
        rank: usize,
        /// The middle width of the new layers.
        capacity: usize,
    },
    /// The weight slice does not hold outputs × inputs values.
    #[error(
        "cannot factorize `{layer}`: its weight has {got} values, expected {outputs}×{inputs} = {expected}"
    )]
    Length {
        /// The layer.
        layer: String,
        /// outputs × inputs.
        expected: usize,
        /// Values given.
        got: usize,
        /// Outputs (rows).
        outputs: usize,
        /// Inputs (columns).
        inputs: usize,
    },
    /// A weight is NaN or infinite; an SVD of it means nothing.
    #[error(
        "cannot factorize `{layer}`: weight[{row}][{column}] is {value}; the layer diverged, \
         retrain or reload it first"
    )]
    NonFinite {
        /// The layer.
        layer: String,
        /// Output row of the bad value.
        row: usize,
        /// Input column of the bad value.
        column: usize,
        /// The value.
        value: f32,
    },
    /// An energy share outside 1–100%.
    #[error("cannot factorize `{layer}` keeping {percent}% of the energy: give a share from 1% to 100%")]
    BadEnergy {
        /// The layer.
        layer: String,
        /// The share asked for, in percent.
        percent: u32,
    },
    /// The SVD did not converge.
    #[error("the SVD of `{layer}` did not converge ({reason}); check its weights for extreme values")]
    Svd {
        /// The layer.
        layer: String,
        /// What the linear-algebra crate reported.
        reason: String,
    },
}

/// Selecting kept filters or building a prune plan failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// The number of kept indices does not match the new width of the layer.
    #[error(
        "`{layer}` keeps {got} indices but its pruned type has width {expected}; use the plan the \
         pruned type was declared with, or declare the type with the widths this plan keeps"
    )]
    KeptCount {
        /// The layer.
        layer: String,
        /// The new width of the static type.
        expected: usize,
        /// Indices given.
        got: usize,
    },
    /// Kept indices must be strictly increasing, so every coupled layer keeps the same order.
    #[error(
        "`{layer}`: kept indices must be sorted and unique, but position {position} holds {index} \
         after {previous}"
    )]
    NotIncreasing {
        /// The layer.
        layer: String,
        /// Position in the kept list.
        position: usize,
        /// The index before it.
        previous: usize,
        /// The offending index.
        index: usize,
    },
    /// A kept index past the layer's original width.
    #[error("`{layer}`: kept index {index} is out of range for width {width} (valid: 0..{width})")]
    OutOfRange {
        /// The layer.
        layer: String,
        /// The offending index.
        index: usize,
        /// The original width.
        width: usize,
    },
    /// A layer would keep no channel at all.
    #[error("`{layer}` would keep no channel; every layer must keep at least one")]
    NothingKept {
        /// The layer.
        layer: String,
    },
    /// A slice whose length does not fit the layout it was described with.
    #[error("`{layer}`: {what} has {got} values, expected {expected}")]
    Length {
        /// The layer.
        layer: String,
        /// What the slice holds ("weight", "bias", ...).
        what: &'static str,
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The Linear after a Flatten has inputs that are not channels × (H×W).
    #[error(
        "`{layer}`: {inputs} inputs cannot be grouped by {group_len} (H×W) per channel; the Linear after \
         a Flatten must have channels × H × W inputs"
    )]
    Grouping {
        /// The Linear.
        layer: String,
        /// Its number of inputs.
        inputs: usize,
        /// H×W.
        group_len: usize,
    },
    /// A pruning ratio that leaves a layer another width than the pruned type declares.
    #[error(
        "pruning {ratio} of `{layer}`'s {width} channels keeps {kept}, but `{pruned_type}` gives `{layer}` \
         {declared}; prune with the ratio the type was declared with, or declare the type with the widths \
         this ratio leaves"
    )]
    RatioMismatch {
        /// The layer.
        layer: String,
        /// The ratio asked for, as written (`50.0%`).
        ratio: String,
        /// Its width before pruning.
        width: usize,
        /// The channels the ratio keeps.
        kept: usize,
        /// The pruned type's name.
        pruned_type: &'static str,
        /// The width the pruned type declares.
        declared: usize,
    },
    /// A plan names a layer the model does not have.
    #[error("the prune plan names `{layer}`, which is not a prunable layer of the model; valid names: {}", valid.join(", "))]
    UnknownLayer {
        /// The name in the plan.
        layer: String,
        /// The model's prunable layers.
        valid: Vec<String>,
    },
    /// A plan and a model disagree on a layer's original width.
    #[error(
        "the prune plan was made for `{layer}` of width {plan_width}, but the model's `{layer}` has width \
         {model_width}; make the plan again from this model"
    )]
    WidthMismatch {
        /// The layer.
        layer: String,
        /// Width recorded in the plan.
        plan_width: usize,
        /// Width of the model's layer.
        model_width: usize,
    },
    /// A width of zero (in a plan or a model description).
    #[error("`{layer}` has width 0; a prunable layer has at least one output channel")]
    ZeroWidth {
        /// The layer.
        layer: String,
    },
    /// The same layer twice in a plan or a list of layers.
    #[error("`{layer}` appears twice; give each layer once")]
    DuplicateLayer {
        /// The layer.
        layer: String,
    },
    /// A score that is NaN or infinite.
    #[error("`{layer}`: filter {filter} has weights that are not finite; the model diverged, retrain or reload it")]
    NonFiniteScore {
        /// The layer.
        layer: String,
        /// The filter.
        filter: usize,
    },
    /// A plan file of another format or version.
    #[error("`{path}` is a prune plan of format `{format}` version {version}; this build reads `{expected_format}` version {expected_version}")]
    PlanVersion {
        /// The file.
        path: PathBuf,
        /// Format found.
        format: String,
        /// Version found.
        version: u32,
        /// Format this build reads.
        expected_format: &'static str,
        /// Version this build reads.
        expected_version: u32,
    },
    /// Reading or writing a plan file failed.
    #[error("could not {action} the prune plan `{path}`: {source}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A plan file that is not valid plan JSON.
    #[error("`{path}` is not a prune plan written by PrunePlan::save: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A plan in a file holds inconsistent entries.
    #[error("the prune plan `{path}` is inconsistent: {source}")]
    InvalidPlan {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: Box<PruneError>,
    },
    /// Scoring the filters of the model failed.
    #[error(transparent)]
    Scoring(#[from] super::CompressError),
    /// A tensor of the model could not be read.
    #[error(transparent)]
    Tensor(#[from] crate::model::TensorAccessError),
    /// A plan with no layer at all.
    #[error(
        "the prune plan lists no layer; make it from the model you prune (PrunePlan::from_model or \
         PrunePlan::from_criterion), or check that the plan file is the one you meant"
    )]
    EmptyPlan,
    /// Two layers that write the same channels through skip connections (one channel group)
    /// keep different channels, or only one of them is in the plan.
    #[error(
        "`{layer}` and `{other}` write the same channels through skip connections (channel group: {}), \
         but the plan keeps {} in `{layer}` and {} in `{other}`; keep the same channels in every member \
         of the group (the plans `compress!` makes do)",
        members.join(", "),
        kept_text(.kept.as_deref()),
        kept_text(.other_kept.as_deref())
    )]
    SplitGroup {
        /// A member of the group.
        layer: String,
        /// Its kept channels (`None`: not in the plan, so all).
        kept: Option<Vec<usize>>,
        /// A member that disagrees.
        other: String,
        /// Its kept channels.
        other_kept: Option<Vec<usize>>,
        /// Every member of the group.
        members: Vec<String>,
    },
    /// A plan recorded another original width for a layer than the model has: it was made for
    /// another model with the same layer names.
    #[error(
        "this plan was made for a model where `{layer}` has {plan_width} filters, but this model's \
         `{layer}` has {model_width}; make the plan from this model (PrunePlan::from_model or \
         PrunePlan::from_criterion), or pick the plan file that matches it"
    )]
    PlanForAnotherModel {
        /// The layer.
        layer: String,
        /// Width recorded in the plan.
        plan_width: usize,
        /// Width of the model's layer.
        model_width: usize,
    },
    /// The pruned type narrows a layer the plan has no entry for.
    #[error(
        "the prune plan has no entry for `{layer}`, but `{pruned_type}` gives `{layer}` {declared} of its \
         {width} channels; use the plan `{pruned_type}` was declared with (its `prune(plan = ..)` file), \
         or make one that lists `{layer}`"
    )]
    MissingLayer {
        /// The layer.
        layer: String,
        /// Its width in the model.
        width: usize,
        /// The pruned type's name.
        pruned_type: String,
        /// Its width in the pruned type.
        declared: usize,
    },
    /// A plan entry keeps another number of channels than the pruned type declares.
    #[error(
        "the prune plan keeps {kept} channels of `{layer}`, but `{pruned_type}` gives `{layer}` {declared}; \
         use the plan `{pruned_type}` was declared with (its `prune(plan = ..)` file), or declare \
         `{pruned_type}` with the widths this plan keeps"
    )]
    PlanTypeMismatch {
        /// The layer.
        layer: String,
        /// Channels the plan keeps.
        kept: usize,
        /// The pruned type's name.
        pruned_type: String,
        /// Its width in the pruned type.
        declared: usize,
    },
}

/// Any error of the structural passes (fold, factorize, prune).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StructError {
    /// See [`FoldError`].
    #[error(transparent)]
    Fold(#[from] FoldError),
    /// See [`FactorizeError`].
    #[error(transparent)]
    Factorize(#[from] FactorizeError),
    /// See [`PruneError`].
    #[error(transparent)]
    Prune(#[from] PruneError),
}


/// A kept list for a message: "all channels", or the count and the first few indices.
fn kept_text(kept: Option<&[usize]>) -> String {
    match kept {
        None => "all channels (not in the plan)".to_string(),
        Some(kept) => {
            let shown: Vec<String> = kept.iter().take(6).map(usize::to_string).collect();
            let more = if kept.len() > 6 { ", …" } else { "" };
            format!("{} channels [{}{more}]", kept.len(), shown.join(", "))
        }
    }
}
