//! Deployment: inference-only plans of a derived model (issue #6's inference side).
//!
//! - [`accelerate`]: the fp32 plan ([`Accelerated`]): BatchNorms folded, ReLUs fused, weights laid
//!   out for the GEMM once, every buffer allocated at build time, no tape.
//! - [`quantize_static`]: post-training static int8 quantization ([`Int8Model`]), calibrated on
//!   images run through the fp32 plan; saved and loaded as safetensors.
//! - [`onnx`]: either plan written as an ONNX file of standard operators, for other runtimes.
//! - [`quantize_dynamic`]: the fp32 plan with every linear layer in `i8` and its input quantized per
//!   call ([`dynamic::DynamicLinear`]); no calibration.
//!
//! Both work on any `M: Compressible + TensorCollection<f32, Cpu>` (every `#[derive(Compressible)]`
//! model) by walking `M::LAYERS` ([`graph`]); a layer they cannot run is an error naming it.

mod accelerate;
mod bands;
pub mod dynamic;
mod error;
pub mod graph;
pub mod int8;
pub mod onnx;
mod plan;
mod residual;

pub use accelerate::{accelerate, quantize_dynamic, Accelerated};
pub use error::DeployError;
pub use plan::InferencePlan;
pub use int8::{quantize_static, Int8Model, ObserverKind, QuantizeOptions};

/// The median of `times` (0 when empty).
fn median_ms(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(0.0)
}
