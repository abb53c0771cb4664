mod error_struct;
pub use error_struct::{FactorizeError, FoldError, PruneError, StructError};
pub mod factorize;
pub mod fold;
pub mod prune;
#[cfg(test)]
mod test_support;
