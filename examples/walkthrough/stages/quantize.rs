//! Stages `quantized` and `accelerated`: train with int8 weights in the loop, then freeze the
//! model into an int8 inference plan.

use std::time::Instant;

use fasterai::deploy::{quantize_static, Int8Model, QuantizeOptions};
use fasterai::learn::{BatchInput, Classifier, LrSchedule, OneCycle};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{epochs, size_in_words, CLASSES};
use super::story::{wrap, Story};

/// The stage name of the quantization-aware trained model in the report.
pub const QUANTIZED: &str = "quantized";
/// The stage name of the frozen int8 plan in the report.
pub const ACCELERATED: &str = "accelerated";

/// Training images the int8 activation ranges are calibrated on.
pub const CALIBRATION_IMAGES: usize = 512;

const QUANTIZED_EXPLANATION: &str = "Quantized: one short cycle of quantization-aware training. In \
    every forward pass each convolution's and linear layer's weights are rounded to 8-bit integers (one \
    scale per output channel), so the loss sees the rounding, and the gradient updates the float copy \
    underneath (straight-through). The model is still a float model here: same size and speed, but its \
    weights now survive the trip to int8.";

const ACCELERATED_EXPLANATION: &str = "Accelerated: the model is frozen into an int8 inference plan. \
    Weights are stored as 8-bit integers (a quarter of the bytes), activations as 8-bit integers with a \
    range calibrated on training images, products accumulate in 32-bit integers, BatchNorm is gone and \
    ReLU is fused into the layer before it, weights are pre-packed for the CPU's integer dot-product \
    instructions and every buffer is allocated once. Nothing is trainable any more: 0 parameters.";

/// Quantization-aware training: one one-cycle epoch at the fine-tuning rate with a
/// [`QuantizeCallback`]; records the `quantized` row and returns the float model.
pub fn quantize<M, X>(story: &mut Story<X>, model: M) -> Result<M, StageError>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let mut learn = story.learner(model);
    let lr = story.settings().finetune_lr;
    println!("Quantization-aware training for {} (one-cycle, peak {lr}):", epochs(1));
    let mut qat = QuantizeCallback::new();
    let start = Instant::now();
    let history = learn.fit_with(1, LrSchedule::OneCycle(OneCycle::new(lr)), &mut [&mut qat]).stage(QUANTIZED)?;
    story.add_training(QUANTIZED, history, start.elapsed());
    story.record(QUANTIZED, QUANTIZED_EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}

/// Calibrates activation ranges on [`CALIBRATION_IMAGES`] training images, converts `model` into
/// an [`Int8Model`], saves it as `<out>/accelerated.safetensors` (int8 tensors, scales, zero
/// points) and, for other runtimes, as `<out>/accelerated.onnx` (standard int8 operators), and
/// records the `accelerated` row.
pub fn accelerate<M, X>(story: &mut Story<X>, model: &M) -> Result<Int8Model<M>, StageError>
where
    M: Compressible + TensorCollection<f32, Cpu> + Send,
    X: BatchInput,
{
    let train = &story.data().train;
    let n = train.len().min(CALIBRATION_IMAGES);
    let calibration: Vec<f32> = (0..n).flat_map(|i| train.image(i).iter().copied()).collect();
    let mut int8 = quantize_static(model, &calibration, n, QuantizeOptions::default()).stage(ACCELERATED)?;
    let weights = story.weights_path(ACCELERATED);
    int8.save(&weights).stage(ACCELERATED)?;
    let onnx = weights.with_extension("onnx");
    let onnx_size = int8.export_onnx(&onnx).stage(ACCELERATED)?;
    story.record_plan(ACCELERATED, ACCELERATED_EXPLANATION, &mut int8)?;
    let files = |path: &std::path::Path| path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let saved = format!(
        "Saved as {} ({}) and, for ONNX Runtime, tract or another runtime, as {} ({}, standard int8 operators).",
        files(&weights),
        size_in_words(int8.size_bytes().stage(ACCELERATED)?),
        files(&onnx),
        size_in_words(onnx_size)
    );
    println!("{}\n", wrap(&saved, 100));
    Ok(int8)
}
