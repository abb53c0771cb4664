//! # fasterai
//!
//! Make neural networks smaller and faster in Rust: distill, sparsify, prune, fold batch norms,
//! factorize, quantize to int8 and accelerate, with every structural rewiring checked by the compiler.
//!
//! Start with `use fasterai::prelude::*;`.
#![warn(missing_docs)]

pub use fasterai_runtime::*;

/// Everything a user needs in scope.
pub mod prelude {
    pub use fasterai_runtime::prelude::*;
}

/// Items the generated code refers to by absolute path. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use fasterai_runtime::dfdx;
}
