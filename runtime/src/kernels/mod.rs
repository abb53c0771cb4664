//! Numeric kernels, the floor of the runtime: fast versions beside the plain versions the tests
//! compare them with. Nothing here imports the layers above (`ops`, `nn`, `deploy`, ...); the only
//! upward import is the fixed-point arithmetic of [`crate::quant`].
//!
//! One organisation for every kernel family:
//! - **Instruction sets**: [`isa`](mod@isa) detects the CPU once and applies the `FASTERAI_MAX_ISA` cap
//!   ([`cap_isa`] from code); every kernel asks it ([`Isa::enabled`]), none probes the CPU itself.
//! - **Tables**: the int8 products choose among [`int8::Int8Kernels`], the fp32 kernels (GEMV rows,
//!   direct conv tile, 2×2 max pool) among [`F32Kernels`]; each table is the portable kernels with
//!   the slots of one tier overwritten.
//! - **Twins**: portable kernels live in [`generic`] (`generic_<family>_<dtype>_<tile>`, same tiling
//!   as their SIMD twins; `reference_<family>_<dtype>` for the plain definitions the tests hold
//!   everything against), SIMD ones in `x86_64` and `aarch64` (`<isa>_<family>_<dtype>_<tile>`).
//! - **Conformance**: one suite per dtype (`conformance_i8.rs`, `conformance_f32.rs`) runs every
//!   table enabled against the portable twins and references on odd sizes and tails.
//! - **Shared types at the bottom**: [`types`] (int8 tile stage, kernel signatures, [`int8::Split`]),
//!   `mat.rs` (matrix views, [`Accumulate`], [`Parallelism`]), `conv_geometry.rs`
//!   ([`ConvGeometry`], padding), `conv_tile.rs` (the fp32 conv tile's operands), `out_ptr.rs`,
//!   [`team`]; leaf kernels import these, never their driver.
//! - **Pooling**: every numeric pooling loop is in [`pool`]; the tape ops only wire it.
//!
//! ```
//! use fasterai_runtime::kernels::{isa, F32Kernels, Isa};
//! assert!(isa() >= Isa::Portable);
//! assert_eq!(F32Kernels::generic().isa, Isa::Portable);
//! ```

mod conv_f32;
mod conv_f32_lanes;
mod conv_geometry;
mod conv_tile;
mod error;
mod table_f32;
mod gemm;
mod gemv_f32;
mod im2col;
pub mod isa;
mod mat;
mod out_ptr;
pub mod pool;
mod space_to_depth;
pub mod types;
mod widest;
mod winograd;
mod winograd_transforms;
mod winograd_u8;

pub use conv_f32::{ConvF32, ConvScratchF32};
pub use conv_f32_lanes::LanesConvF32;
pub use conv_geometry::ConvGeometry;
pub use error::KernelError;
pub use table_f32::{F32Kernels, GemvRowsFn};
pub use gemm::gemm;
pub use gemv_f32::gemv_f32;
pub use generic::gemm_f32::reference_gemm_f32;
pub use generic::gemv_f32::reference_gemv_f32;
pub use generic::im2col_f32::{reference_col2im_f32, reference_im2col_f32};
pub use im2col::{col2im, col2im_rows, im2col, im2col_rows};
pub use isa::{cap_isa, detected, env_cap, isa, Isa, MAX_ISA_VAR};
pub use mat::{Accumulate, MatMut, MatRef, Parallelism};
pub(crate) use out_ptr::OutPtr;
pub use pool::{max_pool_2x2, PoolValue};
pub use space_to_depth::SpaceToDepth;
pub(crate) use widest::widest_fn;
pub use winograd::{WinogradConv, WinogradScratch};
pub use winograd_u8::WinogradU8;
pub mod add_u8;
pub mod conv_quads;
pub mod conv_u8;
pub mod conv_u8_direct;
pub mod conv_u8_shallow;
pub mod generic;
pub mod int8;
#[cfg(target_arch = "x86_64")]
mod int8_amx;
mod int8_sink;
pub mod pack_i8;
pub mod pack_split;
pub mod pack_tiles;
pub mod quantize_u8;
mod pack_wide;
mod wide_gemm;
pub mod team;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(test)]
mod conformance_f32;
#[cfg(test)]
mod conformance_i8;
