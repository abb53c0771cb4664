//! Knowledge distillation: losses that pull a student towards a teacher, and the training
//! callback that adds them to the loss ([`KnowledgeDistillation`]).
//!
//! The teacher runs without a tape; only the student's tensors carry one, so the gradient of every
//! loss flows to the student alone.

pub mod callback;
pub mod features;
pub mod losses;
pub mod pairs;
mod callback_features;

pub use callback::{DistillTerms, KnowledgeDistillation, OnFeatures, OnLogits};
pub use pairs::{check_pair, match_by_spatial_size, resolve_pairs, resolve_pairs_on, FeaturePair, FeaturePairs};
pub use losses::DistillLoss;
