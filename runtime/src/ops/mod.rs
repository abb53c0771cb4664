//! Tape-aware custom ops (forward plus hand-written backward) on dfdx's public tape API.

mod error;
pub(crate) mod relu;
pub(crate) mod tensor_io;
pub mod pool2d;
pub mod conv2d;
pub mod batch_norm2d;
pub mod fake_quant;

pub use error::NnError;
#[cfg(test)]
pub(crate) use error::assert_kernel_error;
