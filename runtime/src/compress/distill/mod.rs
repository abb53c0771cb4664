//! Knowledge distillation: losses that pull a student towards a teacher, and the training
//! callback that adds them to the loss ([`KnowledgeDistillation`]).
//!
//! The teacher runs without a tape; only the student's tensors carry one, so the gradient of every
//! loss flows to the student alone.
//!
//! - On logits: [`KnowledgeDistillation::new`] with `SoftTarget`, `Logits`, `Mutual` or `DecoupledKd`.
//! - On feature maps: [`KnowledgeDistillation::on_features`] with `Attention`, `FitNet`, `Similarity`
//!   or `ActivationBoundaries`, between the `#[tap]` activations of two [`crate::model::TappedForward`]
//!   models, the student's learner built with `Learner::with_taps()`. The pairs ([`FeaturePairs`])
//!   are named or matched by spatial size ([`match_by_spatial_size`]) and checked on the models'
//!   static tap shapes before the first step ([`resolve_pairs`]).

pub mod callback;
pub mod features;
pub mod losses;
pub mod pairs;
mod callback_features;

pub use callback::{DistillTerms, KnowledgeDistillation, OnFeatures, OnLogits};
pub use pairs::{check_pair, match_by_spatial_size, resolve_pairs, resolve_pairs_on, FeaturePair, FeaturePairs};
pub use losses::DistillLoss;
/// The grammar of `pairs = "student_tap -> teacher_tap, .."`, shared with `compress!` (from `fasterai-vocab`).
pub use fasterai_vocab::pairs::{parse_pairs, PairSyntaxError, PAIRS_FORM};
