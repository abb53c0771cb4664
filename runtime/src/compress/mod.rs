//! Compression passes. The training-time cores (sparsification schedules, granularities, criteria,
//! masks; knowledge-distillation losses) and the structural transforms that change a model's type
//! (`fold` BatchNorm into the layer before it, `factorize` a Linear by truncated SVD, `prune` output
//! channels and rewire their consumers), whose calls the macros generate.
//!
//! Everything here works on plain slices with a shape (weights, scores, masks) or on dfdx tensors
//! (losses), so the layers, the learner and the generated code can all call it.

pub mod distill;
pub mod error;
mod structural_error;
pub mod factorize;
pub mod fold;
pub mod prune;
pub mod quantize;
pub mod sparsify;

pub use error::CompressError;
pub use structural_error::{FactorizeError, FoldError, PruneError, StructError};
pub mod sensitivity;
