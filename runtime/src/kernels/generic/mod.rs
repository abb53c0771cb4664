//! Portable reference kernels: plain loops every fast kernel is tested against.

pub mod gemm_i8;
pub mod gemv_i8;
pub mod im2col_u8;
