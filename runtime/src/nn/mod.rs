//! Layers: dfdx modules on the CPU, `f32` by default.
//!
//! dfdx's own `Conv2D`, pooling and `Flatten2D` exist only behind its nightly feature, so this folder
//! provides them on stable Rust, one layer a file, built on the tape-aware ops of [`crate::ops`].
//! dfdx's stable layers are re-exported with `f32`/[`Cpu`](dfdx::prelude::Cpu) defaults.

mod error;

pub use error::NnError;

use dfdx::prelude::Cpu;

/// dfdx's fully connected layer `y = x·Wᵀ + b`, `f32` on the CPU unless said otherwise.
pub type Linear<const I: usize, const O: usize, E = f32, D = Cpu> =
    dfdx::nn::modules::Linear<I, O, E, D>;
/// dfdx's fully connected layer without bias, `y = x·Wᵀ`.
pub type UnbiasedLinear<const I: usize, const O: usize, E = f32, D = Cpu> =
    dfdx::nn::modules::UnbiasedLinear<I, O, E, D>;
/// dfdx's batch normalisation over `(batch, C, H, W)`.
pub type BatchNorm2D<const C: usize, E = f32, D = Cpu> = dfdx::nn::modules::BatchNorm2D<C, E, D>;
/// dfdx's batch normalisation over `(batch, C)`.
pub type BatchNorm1D<const C: usize, E = f32, D = Cpu> = dfdx::nn::modules::BatchNorm1D<C, E, D>;
/// dfdx's rectified linear unit.
pub use dfdx::nn::modules::ReLU;
/// dfdx's dropout (active only with a tape, i.e. while training).
pub use dfdx::nn::modules::Dropout;

mod conv2d;
mod weights;

pub use conv2d::{Conv2D, UnbiasedConv2D};
pub use weights::{load_weights, save_weights, tensor_shapes};
