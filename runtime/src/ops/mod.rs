//! Tape-aware custom ops (forward plus hand-written backward) on dfdx's public tape API.

pub(crate) mod batchnorm2d;
pub(crate) mod relu;
pub(crate) mod tensor_io;
pub mod pool2d;
pub mod conv2d;
pub mod batch_norm2d;
