//! Knowledge distillation: losses that pull a student towards a teacher.
//!
//! The teacher runs without a tape; only the student's tensors carry one, so the gradient of every
//! loss flows to the student alone.

pub mod features;
pub mod losses;

pub use losses::DistillLoss;
