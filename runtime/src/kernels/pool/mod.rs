//! Pooling, numeric part: window geometry, the CPU loops (forward and backward) on contiguous
//! `(planes, H, W)` buffers, their slice-level entry points, the 2×2 stride-2 max pool with its SIMD
//! kernel, and the inference plans' max pool over bands of rows or whole maps.
//!
//! Files by idea:
//! - `geometry.rs`: [`PoolWindow`], PyTorch's rules, where each window lies, adaptive bins;
//! - `loops.rs`: the per-plane loops of max, average, adaptive and global pooling (and backward);
//! - [`slices`]: the loops on raw buffers, lengths checked (the plans' average and adaptive pools);
//! - `value.rs`: [`PoolValue`], the `f32`/`u8` values the max pools compare;
//! - `window_2x2.rs`: [`max_pool_2x2`], dispatched through [`F32Kernels`](super::F32Kernels);
//! - `separable.rs`: max pooling of any window as a pass over rows, then one over columns;
//! - `plan.rs`: the plans' max pool, bands of rows (`max_pool_rows`) and whole maps over the team.
//!
//! The tape ops (`ops::pool2d`) wire these loops into dfdx's tape; errors are [`KernelError`]s
//! (`super::KernelError`), which the ops turn into their own.
//!
//! ```
//! use fasterai_runtime::kernels::pool::{slices, PoolWindow};
//! let mut out = [0.0f32; 1];
//! slices::max_pool2d(&[1.0, 4.0, 3.0, 2.0], 1, (2, 2), PoolWindow { kernel: 2, stride: 2, padding: 0 }, &mut out)?;
//! assert_eq!(out, [4.0]);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```
//!
//! [`KernelError`]: super::KernelError

mod geometry;
pub(crate) mod loops;
mod plan;
mod separable;
pub mod slices;
pub(crate) mod value;
mod window_2x2;

pub(crate) use geometry::AdaptiveGeometry;
pub use geometry::{adaptive_bin, PoolWindow};
pub(crate) use plan::{max_pool_on_team, max_pool_rows};
pub use value::{max_keeping_nan, PoolFn, PoolValue};
pub use window_2x2::max_pool_2x2;
