//! Errors of the compression passes: each says what was wrong and what to do instead.

/// What can go wrong building a schedule, scoring weights, computing masks or a distillation loss.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// A schedule boundary or value is not a fraction.
    #[error("schedule {what} is {value}, outside [0, 1]; give a fraction of training (or of the target) in [0, 1]")]
    ScheduleOutOfRange {
        /// Which field (`start_pct`, `end_pct`, `start_val`, `end_val`).
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A schedule would end before it starts.
    #[error("schedule starts at {start_pct} of training but ends at {end_pct}; start_pct must not exceed end_pct")]
    ScheduleReversed {
        /// Where the schedule starts.
        start_pct: f64,
        /// Where it ends.
        end_pct: f64,
    },
    /// An iterative schedule with no step.
    #[error("an iterative schedule needs at least one step; n_steps was 0")]
    ZeroSteps,
    /// A chain of schedules with no segment, or whose segments overlap or are out of order.
    #[error("cannot chain schedules: {reason}")]
    BadChain {
        /// What is wrong with the chain.
        reason: String,
    },
    /// A weight of a rank the granularity, criterion or pattern does not apply to.
    #[error("{what} applies to weights of rank {expected} ((out, in) or (out, in, kh, kw)), but the weight has shape {shape:?}")]
    RankMismatch {
        /// What was applied ("granularity `filter`", "criterion `wanda`", "N:M sparsity").
        what: String,
        /// The rank(s) it applies to ("4", "2 or 4").
        expected: &'static str,
        /// The weight's shape.
        shape: Vec<usize>,
    },
    /// Two arrays that must have the same length do not.
    #[error("{what} has {found} values but {expected} were expected (shape {shape:?})")]
    LengthMismatch {
        /// Which array.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length given.
        found: usize,
        /// The shape the expected length comes from.
        shape: Vec<usize>,
    },
    /// A criterion needs an input the weight state does not carry.
    #[error("criterion `{criterion}` needs the {needs}; {hint}")]
    MissingInput {
        /// The criterion's name.
        criterion: &'static str,
        /// What it needs ("initial weights", "gradient", ...).
        needs: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// Calibration activations of a rank other than 2 or 4.
    #[error("calibration activations must be (batch, C) or (batch, C, H, W), got shape {shape:?}")]
    ActivationRank {
        /// The shape given.
        shape: Vec<usize>,
    },
    /// Calibration batches with different channel counts.
    #[error("calibration batch has {found} channels but earlier batches had {expected}")]
    ChannelMismatch {
        /// Channels of the earlier batches.
        expected: usize,
        /// Channels of this batch.
        found: usize,
    },
    /// A statistic asked of no data.
    #[error("no calibration batch was added; run at least one batch through the layer before asking for its activation norm")]
    NoCalibrationData,
    /// N:M sparsity on a layer whose input channels do not split into groups of M.
    #[error("{n}:{m} sparsity on layer `{layer}` needs input channels divisible by {m}, but it has {in_channels}; leave this layer out of N:M or change its width")]
    NmIndivisible {
        /// The layer's name.
        layer: String,
        /// Its input channels.
        in_channels: usize,
        /// Weights kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// An N:M pattern that keeps more than its group holds, or a group of size 0.
    #[error("an N:M pattern needs 0 < N <= M, got {n}:{m}")]
    BadNm {
        /// Weights kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// A `round_to` of zero.
    #[error("round_to must be at least 1")]
    ZeroRoundTo,
    /// Global ranking over no layer, or a layer with no group.
    #[error("cannot compute a mask: {reason}")]
    NothingToRank {
        /// Why.
        reason: String,
    },
    /// A distillation loss got inputs of incompatible shapes.
    #[error("{loss}: student {what} has shape {student:?} but the teacher's has {teacher:?}; {hint}")]
    ShapeMismatch {
        /// The loss's name.
        loss: &'static str,
        /// What was compared ("logits", "feature map 2").
        what: String,
        /// Student shape.
        student: Vec<usize>,
        /// Teacher shape.
        teacher: Vec<usize>,
        /// What to do.
        hint: &'static str,
    },
    /// A loss that needs class labels got none, or labels out of range.
    #[error("{loss} {problem}")]
    BadTargets {
        /// The loss's name.
        loss: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A loss given feature maps when it needs logits, or the other way round, or no pair at all.
    #[error("{loss} {problem}")]
    WrongInputs {
        /// The loss's name.
        loss: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A loss parameter out of its domain (temperature ≤ 0, margin < 0, ...).
    #[error("{loss}: {what} = {value} is invalid; {hint}")]
    BadParameter {
        /// The loss's name.
        loss: &'static str,
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The domain.
        hint: &'static str,
    },
    /// A `compress!` stage's value that only the run time can check.
    #[error("stage `{stage}`: {reason}")]
    BadStage {
        /// The stage (`distill`, `sparsify`, ...).
        stage: &'static str,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A pairs string (`pairs = "student_tap -> teacher_tap, .."`) that does not parse.
    #[error("feature pairs {text:?}: {problem}; write {form}", form = crate::compress::distill::PAIRS_FORM)]
    BadPairs {
        /// The string as given.
        text: String,
        /// What is wrong with it.
        problem: crate::compress::distill::PairSyntaxError,
    },
    /// A feature-distillation pair names a layer the model does not tap.
    #[error("the {model} has no tapped layer `{name}`; its #[tap] layers: {valid}")]
    UnknownTap {
        /// `"student"` or `"teacher"`.
        model: &'static str,
        /// The name given.
        name: String,
        /// The model's tapped layers, comma-separated.
        valid: String,
    },
    /// A feature-distillation pair whose maps the loss cannot compare.
    #[error("{loss} cannot compare student tap `{student}` ({student_shape}) with teacher tap `{teacher}` ({teacher_shape}): {why}")]
    IncompatibleTaps {
        /// The loss's name.
        loss: &'static str,
        /// The student's tapped layer.
        student: &'static str,
        /// Its output shape per sample.
        student_shape: crate::model::ShapeInfo,
        /// The teacher's tapped layer.
        teacher: &'static str,
        /// Its output shape per sample.
        teacher_shape: crate::model::ShapeInfo,
        /// Why, and what to pair instead.
        why: &'static str,
    },
    /// Feature distillation with no pair of taps to compare.
    #[error("no feature-map pair to distill: {reason}")]
    NoFeaturePairs {
        /// Why no pair was found.
        reason: String,
    },
    /// A granularity, criterion or schedule name that does not exist.
    #[error("unknown {what} `{name}`; valid names: {valid}")]
    UnknownName {
        /// What was named ("conv granularity", "criterion", "schedule").
        what: &'static str,
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// dfdx's CPU device failed.
    #[error("the CPU device failed: {0}")]
    Device(String),
    /// A layer named for sparsification or pruning that the model does not have, or that cannot be
    /// sparsified (not a convolution or linear layer, or the classifier).
    #[error("cannot sparsify layer `{name}`: {reason}; sparsifiable layers: {valid}")]
    UnknownLayer {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
        /// The model's sparsifiable layers, comma-separated.
        valid: String,
    },
    /// Per-layer targets with a global context.
    #[error("per-layer sparsity targets need the local context (one ranking per layer); use `Context::Local` or drop the per-layer targets")]
    PerLayerNeedsLocal,
    /// A granularity that has no counterpart for one of the selected layers.
    #[error("granularity `{granularity}` has no counterpart for the {kind} layer `{layer}`; choose a granularity both kinds share (weight, filter/row, layer) or leave `{layer}` out")]
    GranularityKind {
        /// The layer.
        layer: String,
        /// The granularity asked for.
        granularity: &'static str,
        /// The layer's kind ("linear", "conv").
        kind: &'static str,
    },
    /// A criterion the training-time sparsifier cannot feed.
    #[error("criterion `{criterion}` cannot be used here: {reason}")]
    UnsupportedCriterion {
        /// The criterion's name.
        criterion: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// A lottery-ticket rewind epoch at or after the epoch where pruning starts.
    #[error("the lottery-ticket rewind epoch {rewind_epoch} comes after pruning starts (epoch {start_epoch:.2} of {n_epochs}); rewind at or before the schedule's start, or start the schedule later")]
    RewindAfterStart {
        /// The rewind epoch asked for.
        rewind_epoch: usize,
        /// Where the schedule starts pruning, in epochs (`start_pct · n_epochs`).
        start_epoch: f64,
        /// Epochs of the fit.
        n_epochs: usize,
    },
    /// An activation criterion (`wanda`) without calibration images.
    #[error(
        "criterion `{criterion}` scores weights by the inputs their layer receives, and no calibration images \
         were given; pass some with `Sparsifier::with_calibration(images, n_images)` (a few batches of training \
         images), or sparsify during training with `SparsifyCallback`, which calibrates on the training batches"
    )]
    MissingCalibration {
        /// The criterion's name.
        criterion: &'static str,
    },
    /// The calibration pass (the model's fp32 inference plan) could not run.
    #[error("calibration failed: {reason}")]
    Calibration {
        /// What the inference plan reported.
        reason: String,
    },
    /// A model tensor could not be read or written.
    #[error(transparent)]
    Tensor(#[from] crate::model::TensorAccessError),
}

impl From<dfdx::tensor::CpuError> for CompressError {
    fn from(e: dfdx::tensor::CpuError) -> Self {
        Self::Device(format!("{e:?}"))
    }
}
