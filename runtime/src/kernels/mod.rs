//! Numeric kernels: fast versions beside the plain reference versions the tests compare them with.

mod conv_f32;
mod error;
mod gemm;
mod gemv_f32;
mod im2col;
mod out_ptr;
mod pool_2x2;
mod widest;
mod winograd;

pub use conv_f32::{ConvF32, ConvScratchF32};
pub(crate) use out_ptr::OutPtr;
pub use error::KernelError;
pub use gemm::{gemm, gemm_ref, Accumulate, MatMut, MatRef, Parallelism};
pub use gemv_f32::{gemv_f32, gemv_f32_ref};
pub use pool_2x2::{max_pool_2x2, max_pool_2x2_portable, PoolValue};
pub(crate) use widest::widest_fn;
pub use winograd::{WinogradConv, WinogradScratch};
pub use im2col::{col2im, col2im_ref, col2im_rows, im2col, im2col_ref, im2col_rows, ConvGeometry};
pub mod conv_u8;
pub mod conv_u8_shallow;
pub mod conv_quads;
pub mod generic;
pub mod int8;
mod int8_sink;
pub mod pack_i8;
pub mod pack_tiles;
mod pack_wide;
#[cfg(target_arch = "x86_64")]
mod int8_amx;
pub mod team;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(test)]
mod conformance_i8;
