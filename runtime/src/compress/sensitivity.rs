//! Sensitivity analysis: how much a metric drops when one layer alone is compressed, and per-layer
//! sparsity targets that meet a global budget while sparing the sensitive layers (fasterai's
//! `SensitivityAnalyzer` and `to_layer_targets`).
//!
//! [`analyze`] (any metric, through a closure) and [`analyze_learner`] (the learner's validation
//! accuracy) perturb one layer at a time, evaluate, and put the layer's weights back:
//! - [`Perturbation::Sparsify`]: zero that share of the layer's filters (output rows of a Linear),
//!   the ones of smallest L1 norm (granularity `filter`, criterion `large_final`), for every prunable
//!   layer ([`Compressible::COUPLINGS`]: each convolution and linear layer but the classifier);
//! - [`Perturbation::QuantizeWeights`]: put the layer's weights on a symmetric per-channel grid of
//!   `bits` bits, for every convolution and linear layer.
//!
//! [`targets_for_budget`] turns the drops into per-layer sparsities; its rule is documented there.

use dfdx::prelude::{Cpu, TensorCollection};

use crate::compress::sparsify::local_mask;
use crate::compress::sparsify::{ConvGranularity, Criteria, Criterion, Granularity, LinearGranularity, WeightState};
use crate::compress::CompressError;
use crate::learn::{BatchInput, BoxedError, Classifier, Learner};
use crate::model::{read_tensor, write_tensor, Compressible, LayerKindInfo, TensorAccessError};
use crate::ops::fake_quant::fake_quantize_weight_values_to_bits;
use crate::quant::QuantError;
use crate::units::Sparsity;

/// What to do to one layer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// Zero this share of the layer's filters, smallest L1 norm first (every prunable layer).
    Sparsify(Sparsity),
    /// Fake-quantize the layer's weights per output channel, symmetric, to `bits` bits (2 to 8;
    /// every convolution and linear layer).
    QuantizeWeights {
        /// Bits per weight.
        bits: u8,
    },
}

/// What compressing one layer alone did to the metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerSensitivity {
    /// The layer's field name.
    pub layer: String,
    /// Its weights (the tensor perturbed), what a sparsity budget counts.
    pub weights: usize,
    /// The metric of the untouched model.
    pub baseline: f64,
    /// The metric with this layer perturbed.
    pub perturbed: f64,
}

impl LayerSensitivity {
    /// How much the metric fell: `baseline − perturbed` (negative when it improved).
    pub fn drop(&self) -> f64 {
        self.baseline - self.perturbed
    }
}

/// Why an analysis or a budget could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SensitivityError {
    /// The evaluation failed (the model's weights were restored first).
    #[error("evaluating the model failed: {0}")]
    Evaluate(#[source] BoxedError),
    /// The evaluation returned NaN or an infinity.
    #[error("the metric was {value} with {layer}; the evaluation must return a finite number")]
    NonFiniteMetric {
        /// The layer perturbed, or "no layer perturbed" for the baseline.
        layer: String,
        /// The value.
        value: f64,
    },
    /// The model has no layer this perturbation applies to.
    #[error("the model has no {what}; nothing to analyse")]
    NoLayer {
        /// "prunable layer" or "convolution or linear layer".
        what: &'static str,
    },
    /// A budget asked of no layer, of layers without weights, or out of the allowed range.
    #[error("cannot meet a global sparsity of {target}: {reason}")]
    Budget {
        /// The global sparsity asked for.
        target: Sparsity,
        /// Why.
        reason: String,
    },
    /// Scoring or masking a layer failed.
    #[error(transparent)]
    Compress(#[from] CompressError),
    /// Quantizing a layer failed.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A weight could not be read or written.
    #[error(transparent)]
    TensorAccess(#[from] TensorAccessError),
}

/// The layers `perturbation` applies to in `M`, in forward order.
fn layers_of<M: Compressible>(perturbation: Perturbation) -> Result<Vec<&'static str>, SensitivityError> {
    let (names, what): (Vec<&'static str>, _) = match perturbation {
        Perturbation::Sparsify(_) => (M::COUPLINGS.iter().map(|c| c.producer).collect(), "prunable layer"),
        Perturbation::QuantizeWeights { .. } => (
            M::LAYERS
                .iter()
                .filter(|l| matches!(l.kind, LayerKindInfo::Conv2D { .. } | LayerKindInfo::Linear { .. }))
                .map(|l| l.name)
                .collect(),
            "convolution or linear layer",
        ),
    };
    if names.is_empty() {
        return Err(SensitivityError::NoLayer { what });
    }
    Ok(names)
}

/// The weights after `perturbation`, for a weight of `shape` (`[O, I]` or `[O, I, K, K]`).
fn perturb(weights: &[f32], shape: &[usize], perturbation: Perturbation) -> Result<Vec<f32>, SensitivityError> {
    match perturbation {
        Perturbation::Sparsify(sparsity) => {
            let granularity = if shape.len() == 4 {
                Granularity::Conv(ConvGranularity::Filter)
            } else {
                Granularity::Linear(LinearGranularity::Row)
            };
            let state = WeightState::new(weights, shape);
            let scores = Criteria::new(Criterion::LargeFinal).scores(&state, granularity)?;
            let mask = local_mask(&scores.values, sparsity, None)?;
            let full = granularity.broadcast(&mask, &scores.shape, shape)?;
            Ok(weights.iter().zip(full).map(|(w, m)| w * m).collect())
        }
        Perturbation::QuantizeWeights { bits } => {
            let rows = shape.first().copied().unwrap_or(1);
            Ok(fake_quantize_weight_values_to_bits(weights, rows, bits)?.values)
        }
    }
}

fn finite(value: f64, layer: &str) -> Result<f64, SensitivityError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SensitivityError::NonFiniteMetric { layer: layer.to_string(), value })
    }
}

/// The analysis on any holder `S` of the model (the model itself, a learner).
fn run<S, M>(
    holder: &mut S,
    model: fn(&mut S) -> &mut M,
    evaluate: &mut dyn FnMut(&mut S) -> Result<f64, BoxedError>,
    perturbation: Perturbation,
) -> Result<Vec<LayerSensitivity>, SensitivityError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let layers = layers_of::<M>(perturbation)?;
    let baseline = finite(evaluate(holder).map_err(SensitivityError::Evaluate)?, "no layer perturbed")?;
    let mut results = Vec::with_capacity(layers.len());
    for layer in layers {
        let name = format!("{layer}.weight");
        let original = read_tensor(model(holder), &name)?;
        let changed = perturb(&original.data, &original.shape, perturbation)?;
        write_tensor(model(holder), &name, &changed)?;
        let metric = evaluate(holder);
        write_tensor(model(holder), &name, &original.data)?;
        let perturbed = finite(metric.map_err(SensitivityError::Evaluate)?, layer)?;
        results.push(LayerSensitivity { layer: layer.to_string(), weights: original.numel(), baseline, perturbed });
    }
    Ok(results)
}

fn itself<M>(model: &mut M) -> &mut M {
    model
}

/// Perturbs each layer of `model` alone and measures `evaluate` (higher is better, e.g. accuracy
/// on a validation set); the model ends with its original weights.
///
/// ```
/// use fasterai_runtime::compress::sensitivity::{analyze, Perturbation};
/// use fasterai_runtime::model::read_tensors;
/// # use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::dfdx::{nn::{ModuleVisitor, TensorCollection}, shapes::Dtype, tensor_ops::Device};
/// # use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
/// # #[derive(Clone)] struct Net<E: Dtype = f32, D: Device<E> = Cpu>(Linear<2, 2, E, D>, Linear<2, 2, E, D>);
/// # impl TensorCollection<f32, Cpu> for Net {
/// #     type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields((Self::module("fc1", |s| &s.0, |s| &mut s.0), Self::module("fc2", |s| &s.1, |s| &mut s.1)), |(a, b)| Net(a, b))
/// #     }
/// # }
/// # const fn fc(name: &'static str) -> LayerInfo {
/// #     let shape = ShapeInfo::Flat { n: 2 };
/// #     LayerInfo { name, kind: LayerKindInfo::Linear { in_features: 2, out_features: 2, bias: true }, input: shape, output: shape, params: 6, macs: 4, tapped: false }
/// # }
/// // Two linear layers fc1 → fc2, described as `#[derive(Compressible)]` would.
/// impl Compressible for Net {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 2 };
///     const LAYERS: &'static [LayerInfo] = &[fc("fc1"), fc("fc2")];
///     const COUPLINGS: &'static [Coupling] = &[Coupling { producer: "fc1", batch_norm: None, consumer: "fc2", group: 1 }];
/// }
/// let dev = Cpu::default();
/// let mut net: Net = Net(Linear::<2, 2>::build(&dev), Linear::<2, 2>::build(&dev));
/// net.0.weight = dev.tensor([[3.0, 4.0], [1.0, 0.0]]);
/// let before = read_tensors(&net);
/// // A metric: the L1 norm of fc1's weights.
/// let l1 = |n: &Net| Ok::<_, std::convert::Infallible>(n.0.weight.as_vec().iter().map(|w| w.abs() as f64).sum());
/// let result = analyze(&mut net, Perturbation::Sparsify(Sparsity::from_percent(50.0).unwrap()), l1).unwrap();
/// assert_eq!(result.len(), 1); // fc2 is the classifier: not prunable
/// assert_eq!((result[0].layer.as_str(), result[0].drop()), ("fc1", 1.0)); // the row [1, 0] went
/// assert_eq!(read_tensors(&net), before);
/// ```
pub fn analyze<M, E>(
    model: &mut M,
    perturbation: Perturbation,
    mut evaluate: impl FnMut(&M) -> Result<f64, E>,
) -> Result<Vec<LayerSensitivity>, SensitivityError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
    E: Into<BoxedError>,
{
    run(model, itself, &mut |m: &mut M| evaluate(m).map_err(Into::into), perturbation)
}

/// [`analyze`] with the learner's validation accuracy as the metric (a fraction: a drop of 0.02
/// is two points).
pub fn analyze_learner<M, X, const K: usize>(
    learn: &mut Learner<M, X, K>,
    perturbation: Perturbation,
) -> Result<Vec<LayerSensitivity>, SensitivityError>
where
    M: Classifier<X, K> + Compressible,
    X: BatchInput,
{
    let mut accuracy = |l: &mut Learner<M, X, K>| -> Result<f64, BoxedError> { Ok(l.validate()?.accuracy.get()) };
    run(learn, Learner::model_mut, &mut accuracy, perturbation)
}

/// Limits of [`targets_for_budget`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetOptions {
    /// The least sparsity any layer gets (fasterai's `min_pct`, default 0).
    pub min: Sparsity,
    /// The most sparsity any layer gets (fasterai's `max_pct`, default 90%).
    pub max: Sparsity,
    /// How sharply sensitivity lowers the sparsity (fasterai's `gamma`, default 1; > 1 spares the
    /// sensitive layers more).
    pub gamma: f64,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        Self { min: Sparsity::ZERO, max: Sparsity::from_fraction(0.9).unwrap_or(Sparsity::FULL), gamma: 1.0 }
    }
}

/// A sparsity for one layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerTarget {
    /// The layer's field name.
    pub layer: String,
    /// The share of its weights to zero.
    pub sparsity: Sparsity,
}

/// Per-layer sparsities whose weighted mean (weighted by each layer's weights) is `global`, giving
/// less sparsity to the layers whose metric dropped most. fasterai's rule:
///
/// 1. `d = max(drop, 0)` per layer, normalised to `n = (d − min d) / (max d − min d)` (all 0 when
///    every drop is equal);
/// 2. a first guess `s₀ = min + (max − min)·(1 − n)^γ`: the most sensitive layer gets `min`, the
///    least sensitive `max`;
/// 3. one shift `λ` for all layers, found by bisection, so that
///    `Σ wᵢ·clamp(s₀ᵢ + λ, min, max) / Σ wᵢ = global`.
///
/// Filter sparsity then rounds each target down to whole filters. Errors: no layer, no weights, a
/// `gamma` that is not a finite positive number, `min > max`, or a `global` outside `[min, max]`.
///
/// ```
/// use fasterai_runtime::compress::sensitivity::{targets_for_budget, BudgetOptions, LayerSensitivity};
/// use fasterai_runtime::units::Sparsity;
/// let layer = |name: &str, weights, perturbed| LayerSensitivity { layer: name.into(), weights, baseline: 0.9, perturbed };
/// let layers = [layer("conv1", 100, 0.6), layer("conv2", 300, 0.9), layer("fc1", 600, 0.8)];
/// let targets = targets_for_budget(&layers, Sparsity::from_percent(50.0).unwrap(), BudgetOptions::default()).unwrap();
/// let s: Vec<f64> = targets.iter().map(|t| t.sparsity.fraction()).collect();
/// assert!(s[0] < s[2] && s[2] < s[1]); // most sensitive (conv1) least sparse
/// let mean = (100.0 * s[0] + 300.0 * s[1] + 600.0 * s[2]) / 1000.0;
/// assert!((mean - 0.5).abs() < 1e-9);
/// ```
pub fn targets_for_budget(
    layers: &[LayerSensitivity],
    global: Sparsity,
    options: BudgetOptions,
) -> Result<Vec<LayerTarget>, SensitivityError> {
    let fail = |reason: String| SensitivityError::Budget { target: global, reason };
    let (lo, hi, target) = (options.min.fraction(), options.max.fraction(), global.fraction());
    if layers.is_empty() {
        return Err(fail("no layer was analysed".into()));
    }
    let total: f64 = layers.iter().map(|l| l.weights as f64).sum();
    if total == 0.0 {
        return Err(fail("the layers hold no weights".into()));
    }
    if !(options.gamma.is_finite() && options.gamma > 0.0) {
        return Err(fail(format!("gamma = {} must be a finite number above 0", options.gamma)));
    }
    if lo > hi {
        return Err(fail(format!("the least sparsity per layer ({}) exceeds the most ({})", options.min, options.max)));
    }
    if !(lo..=hi).contains(&target) {
        return Err(fail(format!(
            "every layer must stay within {}–{}; ask for a global sparsity in that range or widen it",
            options.min, options.max
        )));
    }
    let drops: Vec<f64> = layers.iter().map(|l| l.drop().max(0.0)).collect();
    let (dmin, dmax) = drops.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &d| (a.min(d), b.max(d)));
    let first: Vec<f64> = drops
        .iter()
        .map(|&d| {
            let n = if dmax > dmin { (d - dmin) / (dmax - dmin) } else { 0.0 };
            lo + (hi - lo) * (1.0 - n).powf(options.gamma)
        })
        .collect();
    let at = |shift: f64| -> Vec<f64> { first.iter().map(|s| (s + shift).clamp(lo, hi)).collect() };
    let mean = |s: &[f64]| s.iter().zip(layers).map(|(s, l)| s * l.weights as f64).sum::<f64>() / total;
    // The weighted mean grows with the shift, from `lo` at −(hi − lo) to `hi` at +(hi − lo).
    let (mut below, mut above) = (lo - hi, hi - lo);
    for _ in 0..100 {
        let mid = 0.5 * (below + above);
        if mean(&at(mid)) < target {
            below = mid;
        } else {
            above = mid;
        }
    }
    let shares = at(0.5 * (below + above));
    layers
        .iter()
        .zip(shares)
        .map(|(l, s)| {
            let sparsity = Sparsity::from_fraction(s).map_err(|e| fail(e.to_string()))?;
            Ok(LayerTarget { layer: l.layer.clone(), sparsity })
        })
        .collect()
}

#[cfg(test)]
#[path = "sensitivity_tests.rs"]
mod tests;
