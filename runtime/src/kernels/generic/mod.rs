//! Portable kernels: plain loops every fast kernel is tested against, and the fallback of every CPU.
//!
//! Two kinds, named by what they promise:
//! - `generic_<family>_<dtype>[_<tile>]`: the portable twin of SIMD kernels, on the same operand
//!   layout and tiling (and, for fp32, the same order of additions per output);
//! - `reference_<family>_<dtype>`: the plain definition (fp32 ones sum in `f64`), slow on purpose.

pub mod conv_f32;
pub mod gemm_f32;
pub mod gemm_i8;
pub mod gemv_f32;
pub mod gemv_i8;
pub mod im2col_f32;
pub mod im2col_u8;
pub mod pack_i8;
pub mod pool_2x2;
#[cfg(test)]
pub(crate) mod pool_f32;
