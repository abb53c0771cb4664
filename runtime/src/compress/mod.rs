//! Compression passes that do not depend on a model's structure: the pure cores of sparsification
//! (schedules, granularities, criteria, masks) and the knowledge-distillation losses.
//!
//! Everything here works on plain slices with a shape (weights, scores, masks) or on dfdx tensors
//! (losses), so the layers, the learner and the generated code can all call it.

pub mod distill;
pub mod error;
pub mod sparsify;

pub use error::CompressError;
