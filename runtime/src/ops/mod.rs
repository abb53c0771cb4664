//! Tape-aware custom ops (forward plus hand-written backward) on dfdx's public tape API.
pub mod conv2d;
pub mod batch_norm2d;
