//! Layers: dfdx modules on the CPU, `f32` by default.
//!
//! dfdx's own `Conv2D`, pooling and `Flatten2D` exist only behind its nightly feature, so this folder
//! provides them on stable Rust, one layer a file, built on the tape-aware ops of [`crate::ops`].
//! dfdx's stable layers are re-exported with `f32`/[`Cpu`] defaults.
//!
//! # The layers and their shapes
//!
//! `B` is the batch (a run-time `usize`), `C` a channel dim (`Const<C>` or `usize`), `H × W` the image.
//! Windowed layers give `H' = (H + 2P − K) / S + 1` (and `W'` likewise), PyTorch's `ceil_mode=False`.
//!
//! | layer | input | output | error |
//! |---|---|---|---|
//! | `Conv2D<I, O, K, S, P>` | `(B, Const<I>, H, W)` | `(B, Const<O>, H', W')` | [`NnError`] |
//! | [`MaxPool2D<K, S = K, P = 0>`](MaxPool2D) | `(B, C, H, W)` | `(B, C, H', W')` | [`NnError`] |
//! | [`AvgPool2D<K, S = K, P = 0>`](AvgPool2D) | `(B, C, H, W)` | `(B, C, H', W')` | [`NnError`] |
//! | [`AdaptiveAvgPool2D<OH, OW>`](AdaptiveAvgPool2D) | `(B, C, H, W)` | `(B, C, OH, OW)` | [`NnError`] |
//! | [`GlobalAvgPool`] | `(B, C, H, W)` | `(B, C)` | [`NnError`] |
//! | [`Flatten`] | `(B, C, H, W)`, any dims | `(B, C·H·W)` as `(usize, usize)` | [`NnError`] |
//! | [`Flatten`] via [`FlattenTo::flatten_to::<N>`](FlattenTo::flatten_to) | `(B, C, H, W)` | `(B, Const<N>)`, checked | [`NnError::FlattenMismatch`] |
//! | [`Linear<I, O>`](Linear), [`UnbiasedLinear<I, O>`](UnbiasedLinear) | `(B, Const<I>)` | `(B, Const<O>)` | dfdx's `CpuError` |
//! | [`BatchNorm2D<C>`](BatchNorm2D) / [`BatchNorm1D<C>`](BatchNorm1D) | `(B, Const<C>, H, W)` / `(B, Const<C>)` | same | dfdx's `CpuError` |
//! | [`ReLU`], [`Dropout`] | any | same | dfdx's `CpuError` |
//!
//! The pooling layers and `Flatten` have no parameters: they build with `dev.build_module::<L, f32>()`
//! or as plain values (`MaxPool2D::<2>`), run on any tape (`NoneTape` for inference, `OwnedTape` for
//! training) and are `Copy`. Bad input (a window larger than the padded image, padding over half the
//! kernel, a flatten size that does not match) is an [`NnError`], never a panic.
//!
//! Leave dfdx's allocation cache (`Cpu::enable_cache`) off with these layers, as [`crate::learn`]
//! does: they hand dfdx output buffers it did not allocate, which its cache keeps when they drop
//! and never hands back, so memory grows step after step (1.4 GB after 23 SmallVgg steps at batch
//! 64, against 115 MB without the cache) and every fresh buffer page-faults in.
//!
//! ```
//! use dfdx::prelude::*;
//! use fasterai_runtime::nn::{Flatten, FlattenTo, Linear, MaxPool2D};
//!
//! // The tail of SmallVgg: pool2, flatten, fc1, on a batch of 64-channel 14×14 maps.
//! let dev = Cpu::default();
//! let fc1: Linear<3136, 256> = BuildModule::build(&dev);
//! let maps: Tensor<(usize, Const<64>, usize, usize), f32, Cpu> = dev.sample_normal_like(&(8, Const, 14, 14));
//! let pooled = MaxPool2D::<2, 2>.try_forward(maps.leaky_trace())?; // (8, 64, 7, 7)
//! let logits = fc1.forward(Flatten::flatten_to::<3136>(pooled)?); // (8, 256)
//! let grads = logits.mean().backward();
//! assert_eq!(grads.get(&maps).as_vec().len(), 8 * 64 * 14 * 14);
//! # Ok::<(), fasterai_runtime::nn::NnError>(())
//! ```

mod activation;
mod batchnorm2d;
mod adaptive_pool;
mod flatten;
mod global_pool;
mod linear_infer;
mod pool2d;

pub use activation::ReLU;
pub use batchnorm2d::{batch_norm2d_infer, batch_norm2d_train, BatchNorm2D};
pub use crate::ops::NnError;
pub use adaptive_pool::AdaptiveAvgPool2D;
pub use flatten::{FlatRows, Flatten, FlattenTo};
pub use global_pool::GlobalAvgPool;
pub use linear_infer::InferLinear;
pub use pool2d::{AvgPool2D, MaxPool2D};

use dfdx::prelude::Cpu;

/// dfdx's fully connected layer `y = x·Wᵀ + b`, `f32` on the CPU unless said otherwise.
pub type Linear<const I: usize, const O: usize, E = f32, D = Cpu> =
    dfdx::nn::modules::Linear<I, O, E, D>;
/// dfdx's fully connected layer without bias, `y = x·Wᵀ`.
pub type UnbiasedLinear<const I: usize, const O: usize, E = f32, D = Cpu> =
    dfdx::nn::modules::UnbiasedLinear<I, O, E, D>;
/// dfdx's batch normalisation over `(batch, C)`.
pub type BatchNorm1D<const C: usize, E = f32, D = Cpu> = dfdx::nn::modules::BatchNorm1D<C, E, D>;
/// dfdx's dropout (active only with a tape, i.e. while training).
pub use dfdx::nn::modules::Dropout;

mod conv2d;
pub mod fold;
pub mod walk;
mod weights;

pub use conv2d::{Conv2D, UnbiasedConv2D};
pub use weights::{load_weights, save_weights, tensor_shapes};
