//! Sparsification: zero the least important groups of weights, following a schedule.
//!
//! The pieces, each usable alone:
//! - [`sparsity_schedule`]: how far towards the target sparsity training has come.
//! - [`granularity`]: which weights form one prunable group.
//! - [`criteria`]: how important each weight (then each group) is.
//! - [`mask`]: which groups to drop, locally, globally, rounded, or N:M; and the sparsity report.
//!
//! And on a derived model:
//! - [`target`]: which layers (convolutions by default, linear layers on request, never the classifier).
//! - [`sparsifier`]: [`Sparsifier`], one-shot sparsification of a model, keeping its masks.
//! - [`callback`]: [`SparsifyCallback`], sparsification along a schedule while the learner trains.
//! - [`lottery`]: [`LotteryTicket`], rewinding the surviving weights to an early snapshot.
//! - [`calibration`]: the inputs each layer receives on calibration images (for `wanda`), read from
//!   the model's fp32 inference plan.

pub mod calibration;
pub mod callback;
pub mod criteria;
pub mod granularity;
pub mod lottery;
pub mod mask;
pub mod sparsity_schedule;
pub mod sparsifier;
pub mod target;

pub use criteria::{ActivationStat, ActivationStats, Criteria, Criterion, Normalizer, WeightState};
pub use granularity::{ConvGranularity, Granularity, GroupScores, LinearGranularity};
pub use mask::{
    global_masks, local_mask, nm_mask, Budget, GlobalOptions, LayerScores, LayerSparsity, MinKept, NmPattern,
    SparsityReport,
};
pub use sparsity_schedule::{Curve, ProgressTracker, SparsitySchedule};
pub use sparsifier::{Context, LayerMask, Sparsifier};
pub use target::{granularity_for, resolve_targets, sparsifiable_layers, BnKind, LayerChoice, SparsifyTarget, TargetKind};
pub use callback::SparsifyCallback;
pub use lottery::LotteryTicket;
pub use calibration::{input_norms, CalibrationImages, CalibrationWindow, InputNorm};
