//! Quantization arithmetic: the parameters, the rounding, and the integer requantization that the
//! int8 kernels ([`crate::kernels::int8`]) run.
//!
//! - Weights: per output channel, symmetric `i8` in `[−127, 127]`, `scale = absmax / 127` ([`QuantizedWeights`]).
//! - Activations: per tensor, asymmetric `u8` with a zero point; the range always contains 0 ([`ActivationQParams`]).
//! - Rounding float → integer: half to even ([`round_half_even`]).
//! - Calibration: [`MinMaxObserver`], [`PercentileObserver`], [`MseObserver`] behind the [`Observer`] trait.
//! - Accumulate in `i32`; bias in `i32`; requantize with a [`FixedPointMultiplier`] (one rounding,
//!   half to even, of the exact product); fused ReLU by clamping at the output zero point ([`OutputStage`]).
//!
//! Quantization-aware training builds on this: the fake-quantization op is
//! [`crate::ops::fake_quant`], the training callback `compress::quantize::QuantizeCallback`.
//!
//! ```
//! use fasterai_runtime::quant::*;
//! let mut obs = MinMaxObserver::default();
//! obs.observe(&[-1.0, 0.5, 3.0]).unwrap();
//! let p = obs.qparams().unwrap();
//! let x = 1.234;
//! assert!((p.dequantize(p.quantize(x)) - x).abs() <= p.scale.get() / 2.0);
//! ```

mod activation;
mod add;
mod error;
mod fixed_point;
mod observer;
mod requantize;
mod rounding;
mod scale;
mod weight;

pub use activation::ActivationQParams;
pub use add::{add_multiplier, round_add_shift, AddRequant, ADD_SHIFT};
pub use error::QuantError;
pub use fixed_point::{round_shift_half_even, FixedPointMultiplier};
pub use observer::{Histogram, MinMaxObserver, MseObserver, Observer, PercentileObserver};
pub use requantize::{requantize_one, ChannelRequant, OutputStage};
pub use rounding::round_half_even;
pub use scale::Scale;
pub use weight::{QuantizedWeights, WEIGHT_MAX};
