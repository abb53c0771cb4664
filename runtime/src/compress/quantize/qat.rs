//! Quantization-aware training of weights: every training step computes its loss and gradients
//! with the convolution and linear weights on their int8 grid, and the optimizer's update goes to a
//! float copy of the weights (the straight-through estimator).
//!
//! [`QuantizeCallback`] keeps that float copy itself ("shadow weights"), so it works on any derived
//! model without changing its type:
//! - `before_batch`: save the float weights, write their fake-quantized values
//!   ([`fake_quantize_weight_values`]: per output channel, symmetric int8, `scale = absmax / 127`,
//!   rounding half to even, exactly as the int8 model will hold them) into the model;
//! - forward and backward run on the quantized weights;
//! - `after_step`: the optimizer has moved the quantized weights by `Δ`; the float weights become
//!   `float + Δ`. With absmax scales no weight is clamped, so the straight-through gradient is the
//!   gradient at the quantized point, unmasked: this is that update. (The learner's `before_step`
//!   hook cannot change the model, so the float copy is restored after the step rather than before it;
//!   the two differ only in decoupled weight decay, which shrinks the quantized value instead of the
//!   float one: `lr·wd·|w_q − w|`, under `lr·wd·scale / 2` per weight.)
//! - between batches, during validation and after training the model holds its float weights.
//!
//! Activations are not observed here: the learner's hooks do not see a model's intermediate
//! activations (a derived model exposes only its `#[tap]` fields, through `forward_with_taps`). Their
//! ranges come from calibration after QAT (the observers of [`crate::quant`]); a custom forward can
//! fake-quantize them with [`crate::ops::fake_quant::fake_quantize_activations`].
//!
//! Run QAT on the model whose weights the int8 model will use, i.e. after `fold()` (DESIGN's order),
//! so the BatchNorm scale is already inside the weights quantized during training.

use dfdx::prelude::{Cpu, Shape, TensorCollection};

use crate::ops::fake_quant::fake_quantize_weight_values;
use crate::quant::QuantError;
use crate::learn::{Callback, Context, LearnError};
use crate::model::{read_tensors, write_tensors, Compressible, LayerInfo, LayerKindInfo, TensorAccessError};

/// The callback's name in errors and reports.
const NAME: &str = "QuantizeCallback";

/// Why quantization-aware training could not start or go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QatError {
    /// A layer to leave in float that is not a convolution or linear layer of the model.
    #[error("layer `{name}` is not a convolution or linear layer of the model; the quantized layers are: {valid}")]
    UnknownLayer {
        /// The name given.
        name: String,
        /// The model's convolution and linear layers, comma-separated.
        valid: String,
    },
    /// A weight could not be quantized (a NaN or an infinity: the training diverged).
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A weight could not be read or written.
    #[error(transparent)]
    TensorAccess(#[from] TensorAccessError),
}

/// Float weights of one layer kept aside while the model holds their quantized values.
#[derive(Debug, Clone, PartialEq)]
struct ShadowWeight {
    /// The tensor's name, `<layer>.weight`.
    name: String,
    /// The float weights, which the optimizer's updates accumulate into.
    float: Vec<f32>,
    /// The values written into the model for this batch.
    on_grid: Vec<f32>,
}

/// The convolution and linear layers of `M`, those QAT quantizes.
fn quantizable<M: Compressible>() -> impl Iterator<Item = &'static LayerInfo> {
    M::LAYERS.iter().filter(|l| matches!(l.kind, LayerKindInfo::Conv2D { .. } | LayerKindInfo::Linear { .. }))
}

/// Trains with the weights of every convolution and linear layer fake-quantized to int8 (see the
/// documentation of the `qat` module for the steps); the float weights stay the ones trained.
///
/// Add it to a learner of any derived model (`tests/qat_digits.rs` trains one this way):
/// `Learner::new(model, data).with_callback(QuantizeCallback::new())`. Which layers it quantizes
/// follows from the model's description:
/// ```
/// use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
/// use fasterai_runtime::compress::quantize::QuantizeCallback;
///
/// struct Tiny; // what `#[derive(Compressible)]` writes for conv1 → bn1 → fc
/// const fn layer(name: &'static str, kind: LayerKindInfo) -> LayerInfo {
///     let shape = ShapeInfo::Flat { n: 1 };
///     LayerInfo { name, kind, input: shape, output: shape, params: 0, macs: 0, tapped: false }
/// }
/// impl Compressible for Tiny {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 1 };
///     const LAYERS: &'static [LayerInfo] = &[
///         layer("conv1", LayerKindInfo::Conv2D { in_channels: 1, out_channels: 1, kernel: 1, stride: 1, padding: 0, bias: true }),
///         layer("bn1", LayerKindInfo::BatchNorm2D { channels: 1 }),
///         layer("fc", LayerKindInfo::Linear { in_features: 1, out_features: 1, bias: true }),
///     ];
///     const COUPLINGS: &'static [Coupling] = &[];
/// }
/// assert_eq!(QuantizeCallback::new().layers::<Tiny>().unwrap(), ["conv1", "fc"]);
/// assert_eq!(QuantizeCallback::new().excluding(&["fc"]).layers::<Tiny>().unwrap(), ["conv1"]);
/// let err = QuantizeCallback::new().excluding(&["bn1"]).layers::<Tiny>().unwrap_err();
/// assert!(err.to_string().contains("conv1, fc"), "{err}");
/// ```
#[derive(Debug, Clone, Default)]
pub struct QuantizeCallback {
    excluded: Vec<String>,
    shadows: Vec<ShadowWeight>,
}

impl QuantizeCallback {
    /// Quantizes every convolution and linear layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves these layers in float (often the first convolution and the classifier); the names are
    /// checked against the model when training starts.
    pub fn excluding(mut self, layers: &[&str]) -> Self {
        self.excluded.extend(layers.iter().map(|name| name.to_string()));
        self
    }

    /// The layers of `M` this callback quantizes, in forward order; an error names a layer to
    /// exclude that `M` does not have (or that is neither a convolution nor a linear layer).
    pub fn layers<M: Compressible>(&self) -> Result<Vec<&'static str>, QatError> {
        if let Some(bad) = self.excluded.iter().find(|name| !quantizable::<M>().any(|l| l.name == name.as_str())) {
            let valid = quantizable::<M>().map(|l| l.name).collect::<Vec<_>>().join(", ");
            return Err(QatError::UnknownLayer { name: bad.clone(), valid });
        }
        Ok(quantizable::<M>().map(|l| l.name).filter(|name| !self.excluded.iter().any(|e| e == name)).collect())
    }

    /// Whether the model currently holds quantized weights whose float values this callback keeps.
    pub fn holds_float_weights(&self) -> bool {
        !self.shadows.is_empty()
    }

    /// Saves the float weights of the quantized layers and writes their int8-grid values into the
    /// model (the `before_batch` step). If it already held float weights, it first puts them back.
    pub fn quantize_weights<M>(&mut self, model: &mut M) -> Result<(), QatError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        self.restore(model)?;
        let names: Vec<String> = self.layers::<M>()?.iter().map(|layer| format!("{layer}.weight")).collect();
        let mut shadows = Vec::with_capacity(names.len());
        for tensor in read_tensors(model).into_iter().filter(|t| names.contains(&t.name)) {
            let out_channels = tensor.shape.first().copied().unwrap_or(1);
            let on_grid = fake_quantize_weight_values(&tensor.data, out_channels)?.values;
            shadows.push(ShadowWeight { name: tensor.name, float: tensor.data, on_grid });
        }
        write_tensors(model, &Self::updates(&shadows, |s| &s.on_grid))?;
        self.shadows = shadows;
        Ok(())
    }

    /// Moves the float weights by what the optimizer changed in the quantized ones,
    /// `float += current − on_grid`, and writes them into the model (the `after_step` step).
    /// Does nothing when no float weights are held.
    pub fn apply_step<M>(&mut self, model: &mut M) -> Result<(), QatError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        if self.shadows.is_empty() {
            return Ok(());
        }
        let mut current = read_tensors(model);
        for shadow in &mut self.shadows {
            let now = current.iter_mut().find(|t| t.name == shadow.name).ok_or_else(|| missing(&shadow.name))?;
            for ((f, &q), &n) in shadow.float.iter_mut().zip(&shadow.on_grid).zip(&now.data) {
                *f += n - q;
            }
        }
        self.put_back(model)
    }

    /// Writes the float weights back unchanged and forgets them, e.g. after training stopped on an
    /// error between `before_batch` and `after_step`. Does nothing when none are held.
    pub fn restore<M>(&mut self, model: &mut M) -> Result<(), QatError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        if self.shadows.is_empty() {
            return Ok(());
        }
        self.put_back(model)
    }

    fn put_back<M: TensorCollection<f32, Cpu>>(&mut self, model: &mut M) -> Result<(), QatError> {
        write_tensors(model, &Self::updates(&self.shadows, |s| &s.float))?;
        self.shadows.clear();
        Ok(())
    }

    fn updates<'s>(shadows: &'s [ShadowWeight], values: fn(&ShadowWeight) -> &Vec<f32>) -> Vec<(&'s str, &'s [f32])> {
        shadows.iter().map(|s| (s.name.as_str(), values(s).as_slice())).collect()
    }
}

/// A tensor read before the step that the model no longer has (cannot happen with one model type).
fn missing(name: &str) -> QatError {
    QatError::TensorAccess(TensorAccessError::Missing { name: name.to_string(), available: String::new() })
}

/// Puts every convolution and linear weight of `model` on its int8 grid, as the int8 model will
/// hold it, to measure what quantizing the weights costs (e.g. validate after QAT). Returns the
/// names of the tensors changed. The biases stay in float (the int8 model keeps them in `i32` at
/// the scale of its accumulator).
pub fn quantize_weights_in_place<M>(model: &mut M) -> Result<Vec<String>, QatError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut qat = QuantizeCallback::new();
    qat.quantize_weights(model)?;
    let names = qat.shadows.iter().map(|s| s.name.clone()).collect();
    qat.shadows.clear(); // keep the quantized values in the model
    Ok(names)
}

impl<M, X: Shape, const K: usize> Callback<M, X, K> for QuantizeCallback
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    fn name(&self) -> &str {
        NAME
    }

    /// Checks the layers to leave in float against the model.
    fn before_fit(&mut self, _: &Context, _: &mut M) -> Result<(), LearnError> {
        self.layers::<M>().map(|_| ()).map_err(|e| LearnError::callback(NAME, e))
    }

    /// Saves the float weights and writes their quantized values into the model.
    fn before_batch(&mut self, _: &Context, model: &mut M, _: &crate::data::Batch) -> Result<(), LearnError> {
        self.quantize_weights(model).map_err(|e| LearnError::callback(NAME, e))
    }

    /// Moves the float weights by the optimizer's update and puts them back into the model.
    fn after_step(&mut self, _: &Context, model: &mut M) -> Result<(), LearnError> {
        self.apply_step(model).map_err(|e| LearnError::callback(NAME, e))
    }

    /// Leaves the float weights in the model.
    fn after_fit(&mut self, _: &Context, model: &mut M) -> Result<(), LearnError> {
        self.restore(model).map_err(|e| LearnError::callback(NAME, e))
    }
}

#[cfg(test)]
#[path = "qat_tests.rs"]
mod tests;
