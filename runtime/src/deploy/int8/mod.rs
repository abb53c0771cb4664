//! Post-training static int8 quantization of a derived model, and the int8 plan that runs it.
//!
//! - Weights: per output channel, symmetric `i8` ([`crate::quant::QuantizedWeights`]).
//! - Activations: per tensor, asymmetric `u8`, ranges chosen by an observer over calibration images
//!   run through the fp32 plan ([`ObserverKind`]).
//! - Bias in `i32` accumulator steps; fixed-point requantization; conv + bias + ReLU fused in the
//!   GEMM's output stage ([`crate::kernels::int8`]). On CPUs with AMX (Intel Sapphire Rapids and
//!   later) the convs run on tile registers, and those over 29 channels or more read their
//!   activation tiles in place from a channel-quad copy of the input, with no patch matrix
//!   ([`crate::kernels::conv_quads`]). Runs of such convs ending in an unpadded max pool run as
//!   bands, as in the fp32 plan: each thread takes the whole run over its own rows. The integers,
//!   and so the outputs, are the same on every kernel and schedule. Batch-1 linear layers run on
//!   the GEMV kernels;
//!   max pooling directly on `u8`; Flatten free; the last linear layer's logits dequantized straight
//!   from its `i32` accumulators; residual blocks keep their input as `u8` and end in an integer
//!   add onto the add's own observed grid, rounded once ([`crate::quant::AddRequant`]).
//! - Saved as safetensors (`I8` weights, `I32` biases, `F32` scales, `U8` zero points) and loaded
//!   back against the model type's structure ([`Int8Model::save`], [`Int8Model::load`]).
//!
//! The per-layer arithmetic is spelled out in [`Int8Layer`]'s module docs; [`Int8Model::layers`]
//! exposes every number, so a plain integer loop can recompute the plan exactly.

mod calibrate;
mod file;
mod layer;
mod residual;
mod run;

pub use calibrate::quantize_static;
pub use layer::Int8Layer;

use std::marker::PhantomData;

use layer::Compiled;
use run::Buffers;

use super::DeployError;
use crate::kernels::int8::Int8Kernels;
use crate::measure::Bytes;
use crate::model::ShapeInfo;
use crate::quant::ActivationQParams;

/// How calibration chooses each activation's range.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ObserverKind {
    /// The full range seen ([`crate::quant::MinMaxObserver`]).
    #[default]
    MinMax,
    /// Keep this percentage of the values on each side, e.g. 99.99 ([`crate::quant::PercentileObserver`]).
    Percentile(f64),
    /// The clipping range with the least squared error ([`crate::quant::MseObserver`]).
    Mse,
}

/// Options of [`quantize_static`].
///
/// ```
/// use fasterai_runtime::deploy::{ObserverKind, QuantizeOptions};
/// let options = QuantizeOptions::default().observer(ObserverKind::Percentile(99.99));
/// assert_eq!(options.observer, ObserverKind::Percentile(99.99));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QuantizeOptions {
    /// The activation observer (default min-max).
    pub observer: ObserverKind,
}

impl QuantizeOptions {
    /// Sets the activation observer.
    pub fn observer(mut self, observer: ObserverKind) -> Self {
        self.observer = observer;
        self
    }
}

/// A model of type `M` quantized to int8, ready to run on one image at a time. Build it with
/// [`quantize_static`] or [`Int8Model::load`].
pub struct Int8Model<M> {
    input: ActivationQParams,
    layers: Vec<Int8Layer>,
    compiled: Vec<Compiled>,
    kernels: Int8Kernels,
    input_shape: ShapeInfo,
    output_shape: ShapeInfo,
    buffers: Buffers,
    model: PhantomData<fn() -> M>,
}

// By hand: derives would require `M: Debug`/`M: Clone`, though no `M` is stored.
impl<M> Clone for Int8Model<M> {
    fn clone(&self) -> Self {
        Self {
            input: self.input,
            layers: self.layers.clone(),
            compiled: self.compiled.clone(),
            kernels: self.kernels,
            input_shape: self.input_shape,
            output_shape: self.output_shape,
            buffers: self.buffers.clone(),
            model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Int8Model<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Model")
            .field("model", &std::any::type_name::<M>())
            .field("kernels", &self.kernels.name)
            .field("input", &self.input)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

impl<M> Int8Model<M> {
    /// Assembles the plan from its layers (packing weights, allocating buffers).
    fn assemble(input: ActivationQParams, layers: Vec<Int8Layer>, input_shape: ShapeInfo, output_shape: ShapeInfo) -> Result<Self, DeployError> {
        Self::assemble_with(Int8Kernels::best(), input, layers, input_shape, output_shape)
    }

    fn assemble_with(
        kernels: Int8Kernels,
        input: ActivationQParams,
        layers: Vec<Int8Layer>,
        input_shape: ShapeInfo,
        output_shape: ShapeInfo,
    ) -> Result<Self, DeployError> {
        let adds = residual::add_stages(&layers)?;
        let compiled = layers
            .iter()
            .zip(adds)
            .map(|(l, add)| match add {
                Some(add) => Ok(Compiled::Add(add)),
                None => Compiled::new(l, &kernels),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let buffers = Buffers::new(&layers, &compiled, &kernels, input_shape, output_shape);
        Ok(Self { input, layers, compiled, kernels, input_shape, output_shape, buffers, model: PhantomData })
    }

    /// The same plan packed for `kernels` (one of [`Int8Kernels::available`]) instead of the
    /// best: to compare two tables in one process. The outputs are the same integers.
    pub fn with_kernels(&self, kernels: Int8Kernels) -> Result<Self, DeployError> {
        Self::assemble_with(kernels, self.input, self.layers.clone(), self.input_shape, self.output_shape)
    }

    /// The name of the int8 kernel table the plan runs.
    pub fn kernels_name(&self) -> &'static str {
        self.kernels.name
    }

    /// Quantization of the input image.
    pub fn input_params(&self) -> ActivationQParams {
        self.input
    }

    /// The layers, in order, with every quantization parameter.
    pub fn layers(&self) -> &[Int8Layer] {
        &self.layers
    }

    /// Values of one input image.
    pub fn input_len(&self) -> usize {
        self.input_shape.numel()
    }

    /// Values of one output (the logits).
    pub fn output_len(&self) -> usize {
        self.output_shape.numel()
    }

    /// Weights stored (`i8`) plus biases (`i32`).
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.weights.as_ref().map_or(0, |w| w.values.len()) + l.bias.len()).sum()
    }

    /// Bytes of the safetensors file [`Int8Model::save`] writes.
    pub fn size_bytes(&self) -> Result<Bytes, DeployError> {
        Ok(Bytes(self.to_bytes()?.len() as u64))
    }

    /// Runs one image (`C·H·W` values, NCHW, real units) and returns the logits, valid until the next run.
    pub fn run(&mut self, image: &[f32]) -> Result<&[f32], DeployError> {
        if image.len() != self.input_len() {
            return Err(DeployError::InputLength {
                expected: self.input_len(),
                shape: self.input_shape.to_string(),
                found: image.len(),
            });
        }
        self.buffers.run(&self.kernels, self.input, &self.layers, &self.compiled, image, None)
    }

    /// Milliseconds each node (or band segment) of a run takes, medians over `runs` runs of
    /// `image`, named by their first layer: for profiling the plan.
    #[doc(hidden)]
    pub fn node_times(&mut self, image: &[f32], runs: usize) -> Result<Vec<(String, f64)>, DeployError> {
        self.run(image)?;
        let (kernels, input, layers, compiled) = (&self.kernels, self.input, &self.layers, &self.compiled);
        let buffers = &mut self.buffers;
        let medians = super::segment_medians(runs, |marks| buffers.run(kernels, input, layers, compiled, image, Some(marks)).map(|_| ()))?;
        Ok(medians.into_iter().map(|(start, ms)| (self.layers[start].node.layer.to_string(), ms)).collect())
    }

    /// Turns the band schedule on (the default) or off: see [`crate::deploy::Accelerated::set_bands`].
    /// Here the runs are of convs on AMX's channel-quad path; the integers are the same either way.
    pub fn set_bands(&mut self, on: bool) {
        self.buffers.set_bands(on);
    }

    /// The layers (indices into [`Self::layers`]) of each run that goes as bands.
    pub fn banded_layers(&self) -> Vec<std::ops::Range<usize>> {
        self.buffers.banded_layers()
    }

    /// Runs `images` (`n` images one after the other) and returns their logits, one after the other.
    pub fn predict(&mut self, images: &[f32], n: usize) -> Result<Vec<f32>, DeployError> {
        let per_image = self.input_len();
        if images.len() != n * per_image {
            return Err(DeployError::BatchLength { what: "batch", images: n, per_image, found: images.len() });
        }
        let mut out = Vec::with_capacity(n * self.output_len());
        for image in images.chunks_exact(per_image.max(1)).take(n) {
            out.extend_from_slice(self.run(image)?);
        }
        Ok(out)
    }
}

