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

/// Milliseconds each segment of a traced run takes, medians over `runs` runs (at least one), each
/// keyed by the node it starts at. `run` runs the plan once, pushing `(next node, now)` after every
/// segment onto marks that start with `(0, start)`.
fn segment_medians(
    runs: usize,
    mut run: impl FnMut(&mut Vec<(usize, std::time::Instant)>) -> Result<(), DeployError>,
) -> Result<Vec<(usize, f64)>, DeployError> {
    let mut marks = Vec::new();
    let mut times: Vec<Vec<f64>> = Vec::new();
    let mut starts = Vec::new();
    for _ in 0..runs.max(1) {
        marks.clear();
        marks.push((0, std::time::Instant::now()));
        run(&mut marks)?;
        starts = marks.windows(2).map(|w| w[0].0).collect();
        times.resize(marks.len() - 1, Vec::new());
        for (t, w) in times.iter_mut().zip(marks.windows(2)) {
            t.push((w[1].1 - w[0].1).as_secs_f64() * 1e3);
        }
    }
    Ok(starts.into_iter().zip(times).map(|(start, t)| (start, median_ms(t))).collect())
}
