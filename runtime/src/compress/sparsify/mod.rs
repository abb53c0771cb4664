//! Sparsification: zero the least important groups of weights, following a schedule.
//!
//! The pieces, each usable alone:
//! - [`schedule`]: how far towards the target sparsity training has come.
//! - [`granularity`]: which weights form one prunable group.
//! - [`criteria`]: how important each weight (then each group) is.
//! - [`mask`]: which groups to drop, locally, globally, rounded, or N:M; and the sparsity report.

pub mod criteria;
pub mod granularity;
pub mod mask;
pub mod schedule;

pub use criteria::{ActivationStat, ActivationStats, Criteria, Criterion, Normalizer, WeightState};
pub use granularity::{ConvGranularity, Granularity, GroupScores, LinearGranularity};
pub use mask::{
    global_masks, local_mask, nm_mask, Budget, GlobalOptions, LayerScores, LayerSparsity, MinKept, NmPattern,
    SparsityReport,
};
pub use schedule::{Curve, ProgressTracker, Schedule};
