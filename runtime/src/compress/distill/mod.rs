//! Knowledge distillation: losses that pull a student towards a teacher, and the training
//! callback that adds them to the loss ([`KnowledgeDistillation`]).
//!
//! The teacher runs without a tape; only the student's tensors carry one, so the gradient of every
//! loss flows to the student alone.

pub mod callback;
pub mod features;
pub mod losses;

pub use callback::{DistillTerms, KnowledgeDistillation};
pub use losses::DistillLoss;
