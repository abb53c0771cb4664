//! `Sparsifier`: sparsify the chosen layers of any derived model at once, and keep the masks so they
//! can be applied again (after an optimizer step, or to another copy of the model).
//!
//! It ties the numeric pieces of this module to a model: [`resolve_targets`] picks the layers from
//! [`Compressible::LAYERS`], the [`Criteria`] score each weight, the granularity groups them, the
//! context ranks them per layer ([`local_mask`]) or across layers ([`global_masks`]) or an
//! [`NmPattern`] keeps N of every M, and the weights are read and written by name
//! ([`read_tensor`], [`write_tensors`]). With filter granularity (or `row` on a linear layer), a
//! dropped filter's bias entry and the γ and β of the BatchNorm after it are zeroed too, so the
//! channel outputs exactly 0 and [`PrunePlan::from_model`](crate::compress::prune::PrunePlan::from_model)
//! can remove it without changing the model's outputs. An activation criterion (`wanda`) also needs
//! what each layer receives: give calibration images with [`Sparsifier::with_calibration`]; they
//! run through the model's fp32 inference plan each time the masks are computed
//! ([`input_norms`](super::input_norms)).
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{Context, ConvGranularity, Criteria, Criterion, Granularity, Sparsifier, SparsityReport};
//! use fasterai_runtime::compress::CompressError;
//! use fasterai_runtime::dfdx::{nn::TensorCollection, prelude::Cpu};
//! use fasterai_runtime::model::Compressible;
//! use fasterai_runtime::units::Sparsity;
//!
//! /// Zeroes half the filters of every convolution of any derived model, the weakest by |W|.
//! fn half_the_filters<M: Compressible + TensorCollection<f32, Cpu>>(model: &mut M) -> Result<SparsityReport, CompressError> {
//!     let mut sparsifier = Sparsifier::new(
//!         Sparsity::from_percent(50.0).expect("50% is a sparsity"),
//!         Granularity::Conv(ConvGranularity::Filter),
//!         Context::Local,
//!         Criteria::new(Criterion::LargeFinal),
//!     );
//!     let report = sparsifier.prune_model(model)?;
//!     println!("{report}"); // "Sparsity in conv1: 50.00%", ...
//!     Ok(report)
//! }
//! ```

use std::collections::HashMap;
use std::num::NonZeroUsize;

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::calibration::CalibrationImages;
use super::criteria::{ActivationStat, Criteria, Criterion, WeightState};
use super::granularity::Granularity;
use super::mask::{
    global_masks, local_mask, nm_mask, GlobalOptions, LayerScores, LayerSparsity, NmPattern, SparsityReport,
};
use super::target::{resolve_targets, LayerChoice, SparsifyTarget};
use crate::compress::CompressError;
use crate::model::{read_tensor, write_tensors, Compressible};
use crate::units::Sparsity;

/// What to do when a criterion needs the initial weights and the sparsifier has none.
const REMEMBER_INIT_HINT: &str = "call `Sparsifier::remember_init(&model)` first, with the weights to compare \
against (the model before training or fine-tuning); a SparsifyCallback does this itself when training starts";

/// Where groups compete for the target sparsity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Context {
    /// Each layer reaches the target on its own ranking.
    Local,
    /// All chosen layers share one ranking (see [`GlobalOptions`]; [`GlobalOptions::balanced`]
    /// keeps a layer from collapsing).
    Global(GlobalOptions),
}

/// One layer's mask, as last computed.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerMask {
    /// The layer's field name.
    pub name: &'static str,
    /// Weight-shaped: 1.0 kept, 0.0 dropped.
    pub weight: Vec<f32>,
    /// One value per output channel when the granularity drops whole outputs (filter, row): the
    /// bias entries and BatchNorm channels to keep. `None` otherwise.
    pub outputs: Option<Vec<f32>>,
    /// The per-channel tensors `outputs` applies to: the bias, the BatchNorm's γ and β (those present).
    pub output_tensors: Vec<String>,
}

impl LayerMask {
    /// The share of weights the mask drops.
    pub fn sparsity(&self) -> Sparsity {
        LayerSparsity::measure(self.name, &self.weight).sparsity()
    }
}

/// Weights kept for the criteria that compare against an earlier state, one entry per layer name.
#[derive(Debug, Clone, Default)]
pub(crate) struct WeightMemory {
    /// Initial (or rewind) weights.
    pub(crate) init: HashMap<&'static str, Vec<f32>>,
    /// Weights at the previous sparsification step.
    pub(crate) previous: HashMap<&'static str, Vec<f32>>,
    /// The last gradient kept.
    pub(crate) gradient: HashMap<&'static str, Vec<f32>>,
}

/// Sparsifies the chosen layers of a derived model (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Sparsifier {
    sparsity: Sparsity,
    granularity: Granularity,
    context: Context,
    criteria: Criteria,
    layers: LayerChoice,
    per_layer: Vec<(String, Sparsity)>,
    round_to: Option<usize>,
    nm: Option<NmPattern>,
    calibration: Option<CalibrationImages>,
    activation_stat: ActivationStat,
    pub(crate) memory: WeightMemory,
    masks: Vec<LayerMask>,
}

impl Sparsifier {
    /// A sparsifier of the convolutions to `sparsity`, grouping weights by `granularity` (its conv
    /// or linear counterpart on each layer), ranking them in `context` by `criteria`.
    pub fn new(sparsity: Sparsity, granularity: Granularity, context: Context, criteria: Criteria) -> Self {
        Self {
            sparsity,
            granularity,
            context,
            criteria,
            layers: LayerChoice::Convolutions,
            per_layer: Vec::new(),
            round_to: None,
            nm: None,
            calibration: None,
            activation_stat: ActivationStat::L2Norm,
            memory: WeightMemory::default(),
            masks: Vec::new(),
        }
    }

    /// Works on these layers instead of the convolutions.
    pub fn layers(self, layers: LayerChoice) -> Self {
        Self { layers, ..self }
    }

    /// Own targets for some layers (`[("conv1", 30%)]`), which are added to the chosen layers if
    /// they were not among them. Needs [`Context::Local`].
    pub fn per_layer<S: Into<String>>(self, targets: impl IntoIterator<Item = (S, Sparsity)>) -> Self {
        Self { per_layer: targets.into_iter().map(|(n, s)| (n.into(), s)).collect(), ..self }
    }

    /// Rounds each layer's kept groups up to a multiple of `n` (and to at least `n`); 0 is an error
    /// when the layers are resolved.
    pub fn round_to(self, n: usize) -> Self {
        Self { round_to: Some(n), ..self }
    }

    /// N:M sparsity instead of the target and granularity: in every run of M input channels, the N
    /// best weights are kept.
    pub fn nm(self, pattern: NmPattern) -> Self {
        Self { nm: Some(pattern), ..self }
    }

    /// Calibration images for activation criteria (`wanda`): `n_images` images, one after the
    /// other, each of the model's input shape. Every time the masks are computed, they run through
    /// the model's fp32 inference plan and each layer's inputs are reduced to one norm per input
    /// channel ([`input_norms`](super::input_norms)). Other criteria ignore them.
    ///
    /// ```
    /// use fasterai_runtime::compress::sparsify::{Context, ConvGranularity, Criteria, Criterion, Granularity, Sparsifier, SparsityReport};
    /// use fasterai_runtime::compress::CompressError;
    /// use fasterai_runtime::data::Dataset;
    /// use fasterai_runtime::dfdx::{nn::TensorCollection, prelude::Cpu};
    /// use fasterai_runtime::model::Compressible;
    /// use fasterai_runtime::units::Sparsity;
    ///
    /// /// Wanda, one shot: half the weights of every convolution, calibrated on 64 training images.
    /// fn wanda<M: Compressible + TensorCollection<f32, Cpu>>(model: &mut M, train: &Dataset) -> Result<SparsityReport, CompressError> {
    ///     let n = train.len().min(64);
    ///     let images: Vec<f32> = (0..n).flat_map(|i| train.image(i).iter().copied()).collect();
    ///     let half = Sparsity::from_percent(50.0).expect("50% is a sparsity");
    ///     let weight = Granularity::Conv(ConvGranularity::Weight);
    ///     Sparsifier::new(half, weight, Context::Local, Criteria::new(Criterion::Wanda))
    ///         .with_calibration(&images, n)
    ///         .prune_model(model)
    /// }
    /// ```
    pub fn with_calibration(self, images: &[f32], n_images: usize) -> Self {
        Self { calibration: Some(CalibrationImages::new(images, n_images)), ..self }
    }

    /// How calibration inputs are reduced per channel (fasterai's `data_fn`; default
    /// [`ActivationStat::L2Norm`], Wanda's).
    pub fn activation_stat(self, stat: ActivationStat) -> Self {
        Self { activation_stat: stat, ..self }
    }

    /// The calibration images given with [`Sparsifier::with_calibration`].
    pub fn calibration(&self) -> Option<&CalibrationImages> {
        self.calibration.as_ref()
    }

    /// The final target of layers without their own.
    pub fn sparsity(&self) -> Sparsity {
        self.sparsity
    }

    /// Where groups compete for the target.
    pub fn context(&self) -> Context {
        self.context
    }

    /// The criteria weights are ranked by.
    pub fn criteria(&self) -> Criteria {
        self.criteria
    }

    /// The masks last computed, one per layer in model order (empty before the first sparsification).
    pub fn masks(&self) -> &[LayerMask] {
        &self.masks
    }

    /// The layers of `M` this sparsifier works on, each with its target; checks every setting
    /// against the model. Errors: see [`resolve_targets`]; per-layer targets with a global
    /// context; `round_to(0)`; an N:M pattern with N > M.
    pub fn targets<M: Compressible>(&self) -> Result<Vec<SparsifyTarget>, CompressError> {
        if matches!(self.context, Context::Global(_)) && !self.per_layer.is_empty() {
            return Err(CompressError::PerLayerNeedsLocal);
        }
        if self.round_to == Some(0) {
            return Err(CompressError::ZeroRoundTo);
        }
        if let Some(p) = self.nm {
            NmPattern::new(p.n, p.m)?;
        }
        resolve_targets::<M>(&self.layers, &self.per_layer, self.sparsity, self.granularity, self.nm)
    }

    /// Keeps the current weights of the chosen layers as the initial weights that init-based
    /// criteria (`large_init`, `movement`, ...) compare against, and that the `updating_*` criteria
    /// compare against on their first call (later calls compare against the weights at the call
    /// before, as in fasterai). A one-shot sparsifier with such a criterion needs this call first,
    /// with the weights before training or fine-tuning; a `SparsifyCallback` does it itself.
    ///
    /// ```
    /// use fasterai_runtime::compress::sparsify::{Context, ConvGranularity, Criteria, Criterion, Granularity, Sparsifier};
    /// use fasterai_runtime::compress::CompressError;
    /// use fasterai_runtime::dfdx::{nn::TensorCollection, prelude::Cpu};
    /// use fasterai_runtime::model::Compressible;
    /// use fasterai_runtime::units::Sparsity;
    /// /// Fine-tunes with `tune`, then drops the half of each conv's weights that moved least.
    /// fn prune_by_movement<M: Compressible + TensorCollection<f32, Cpu>>(model: &mut M, tune: impl Fn(&mut M)) -> Result<(), CompressError> {
    ///     let half = Sparsity::from_percent(50.0).expect("a sparsity");
    ///     let criteria = Criteria::new(Criterion::UpdatingMovement);
    ///     let mut sparsifier = Sparsifier::new(half, Granularity::Conv(ConvGranularity::Weight), Context::Local, criteria);
    ///     sparsifier.remember_init(model)?;
    ///     tune(model);
    ///     sparsifier.prune_model(model)?; // first call: movement since remember_init
    ///     Ok(())
    /// }
    /// ```
    pub fn remember_init<M>(&mut self, model: &M) -> Result<(), CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        let targets = self.targets::<M>()?;
        self.memory.init = weights_of(model, &targets)?;
        Ok(())
    }

    /// Sparsifies the chosen layers to their full target, applies the masks and reports the
    /// sparsity reached per layer. With `wanda`, errors unless calibration images were given
    /// ([`Sparsifier::with_calibration`]).
    pub fn prune_model<M>(&mut self, model: &mut M) -> Result<SparsityReport, CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        let targets = self.targets::<M>()?;
        self.sparsify(model, &targets, 1.0, None)?;
        report(model, &targets)
    }

    /// Forgets the masks (a new training run starts dense).
    pub(crate) fn clear_masks(&mut self) {
        self.masks.clear();
    }

    /// Applies the masks last computed again (after an optimizer step moved the weights).
    pub fn apply_masks<M>(&self, model: &mut M) -> Result<(), CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        apply_masks(model, &self.masks)
    }

    /// Computes the masks for `progress` (a fraction of each target), stores and applies them.
    /// An activation criterion calibrates on the sparsifier's own images, else on `fallback`.
    pub(crate) fn sparsify<M>(
        &mut self,
        model: &mut M,
        targets: &[SparsifyTarget],
        progress: f64,
        fallback: Option<&CalibrationImages>,
    ) -> Result<(), CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        self.check_memory(targets)?;
        let weights = weights_of(model, targets)?;
        let norms = self.input_norms(model, fallback)?;
        let coupled = coupled_targets::<M>(targets);
        let masks = self.compute_masks(targets, &weights, &norms, progress, &coupled)?;
        apply_masks(model, &masks)?;
        self.masks = masks;
        if self.criteria.criterion.needs_previous() {
            self.memory.previous = weights_of(model, targets)?;
        }
        Ok(())
    }

    /// Checks that the weights an init-based or `updating_*` criterion compares against are kept.
    /// An `updating_*` criterion compares against the weights at the previous call; on the first
    /// call there are none, and, as fasterai does, it compares against the initial weights
    /// ([`Sparsifier::remember_init`]).
    fn check_memory(&self, targets: &[SparsifyTarget]) -> Result<(), CompressError> {
        let criterion = self.criteria.criterion;
        let missing = |needs| CompressError::MissingInput { criterion: criterion.name(), needs, hint: REMEMBER_INIT_HINT };
        for t in targets {
            if criterion.needs_init() && !self.memory.init.contains_key(t.name) {
                return Err(missing("initial weights"));
            }
            let known = self.memory.previous.contains_key(t.name) || self.memory.init.contains_key(t.name);
            if criterion.needs_previous() && !known {
                return Err(missing("weights of the previous call (on the first call, the initial weights)"));
            }
        }
        Ok(())
    }

    /// The input norm of each layer by name when the criterion needs them (empty otherwise).
    fn input_norms<M>(
        &self,
        model: &M,
        fallback: Option<&CalibrationImages>,
    ) -> Result<HashMap<&'static str, Vec<f32>>, CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        let criterion = self.criteria.criterion;
        if !criterion.needs_activations() {
            return Ok(HashMap::new());
        }
        let images = self
            .calibration
            .as_ref()
            .or(fallback)
            .ok_or(CompressError::MissingCalibration { criterion: criterion.name() })?;
        Ok(images.norms(model, self.activation_stat)?.into_iter().map(|n| (n.layer, n.values)).collect())
    }

    fn state<'a>(
        &'a self,
        target: &'a SparsifyTarget,
        current: &'a [f32],
        norm: Option<&'a Vec<f32>>,
        old_mask: Option<&'a LayerMask>,
    ) -> WeightState<'a> {
        let mut state = WeightState::new(current, &target.shape);
        if let Some(v) = norm {
            state = state.with_activation_norm(v);
        }
        if let Some(v) = self.memory.init.get(target.name) {
            state = state.with_init(v);
        }
        // On the first call of an `updating_*` criterion there is no previous call: compare
        // against the initial weights, as fasterai does (`_old_weights` starts as `_init_weights`).
        if let Some(v) = self.memory.previous.get(target.name).or_else(|| self.memory.init.get(target.name)) {
            state = state.with_previous(v);
        }
        if let Some(v) = self.memory.gradient.get(target.name) {
            state = state.with_gradient(v);
        }
        if let Some(m) = old_mask {
            state = state.with_mask(&m.weight);
        }
        state
    }

    fn compute_masks(
        &self,
        targets: &[SparsifyTarget],
        weights: &HashMap<&'static str, Vec<f32>>,
        norms: &HashMap<&'static str, Vec<f32>>,
        progress: f64,
        coupled: &[Vec<usize>],
    ) -> Result<Vec<LayerMask>, CompressError> {
        let round_to = self.round_to.and_then(NonZeroUsize::new);
        let old = |name: &str| self.masks.iter().find(|m| m.name == name);
        let mut weight_masks: Vec<Vec<f32>> = Vec::with_capacity(targets.len());
        if let Some(pattern) = self.nm {
            for t in targets {
                let state = self.state(t, &weights[t.name], norms.get(t.name), old(t.name));
                weight_masks.push(if progress > 0.0 {
                    nm_mask(t.name, &self.criteria.per_weight(&state)?, &t.shape, pattern)?
                } else {
                    vec![1.0; state.current.len()]
                });
            }
        } else {
            let mut groups = Vec::with_capacity(targets.len());
            for t in targets {
                groups.push(self.criteria.scores(&self.state(t, &weights[t.name], norms.get(t.name), old(t.name)), t.granularity)?);
            }
            // The members of a channel group share one score per channel, their sum.
            for members in coupled {
                let mut sum = vec![0.0f32; groups[members[0]].values.len()];
                for &m in members {
                    sum.iter_mut().zip(&groups[m].values).for_each(|(s, v)| *s += v);
                }
                for &m in members {
                    groups[m].values.clone_from(&sum);
                }
            }
            let mut group_masks = match self.context {
                Context::Local => targets
                    .iter()
                    .zip(&groups)
                    .map(|(t, g)| local_mask(&g.values, t.sparsity.scaled(progress), round_to))
                    .collect::<Result<Vec<_>, _>>()?,
                Context::Global(options) => {
                    let layers: Vec<LayerScores> = targets
                        .iter()
                        .zip(&groups)
                        .map(|(t, g)| LayerScores {
                            name: t.name.to_string(),
                            scores: g.values.clone(),
                            params_per_group: g.weights_per_group(&t.shape),
                        })
                        .collect();
                    let options = GlobalOptions { round_to: round_to.or(options.round_to), ..options };
                    global_masks(&layers, self.sparsity.scaled(progress), &options)?
                }
            };
            // ... and one mask, the first member's (its sparsity, when per-layer targets differ).
            for members in coupled {
                let first = group_masks[members[0]].clone();
                for &m in &members[1..] {
                    group_masks[m].clone_from(&first);
                }
            }
            for ((t, g), m) in targets.iter().zip(&groups).zip(group_masks) {
                weight_masks.push(t.granularity.broadcast(&m, &g.shape, &t.shape)?);
            }
        }
        Ok(targets
            .iter()
            .zip(weight_masks)
            .map(|(t, weight)| {
                let outputs = t.drops_whole_outputs().then(|| {
                    let per = weight.len() / t.width();
                    weight.chunks(per).map(|row| if row.iter().any(|&m| m != 0.0) { 1.0 } else { 0.0 }).collect()
                });
                let output_tensors = match outputs {
                    Some(_) => {
                        t.bias_name().into_iter().chain(t.bn_names().into_iter().flat_map(|(g, b)| [g, b])).collect()
                    }
                    None => Vec::new(),
                };
                LayerMask { name: t.name, weight, outputs, output_tensors }
            })
            .collect())
    }
}

/// For each channel group of `M` that several layers write through skip connections and that
/// `targets` sparsify by whole outputs (filters, rows) in every member: the members' indices in
/// `targets`. Such a group loses the same channels in every member, so the channels a later
/// `prune` removes are silent after every add.
fn coupled_targets<M: Compressible>(targets: &[SparsifyTarget]) -> Vec<Vec<usize>> {
    M::CHANNEL_GROUPS
        .iter()
        .filter(|group| group.prunable && group.producers.len() > 1)
        .filter_map(|group| {
            group
                .producers
                .iter()
                .map(|name| targets.iter().position(|t| t.name == *name && t.drops_whole_outputs()))
                .collect::<Option<Vec<usize>>>()
        })
        .collect()
}

/// The current weights of `targets`, by layer name.
pub(crate) fn weights_of<M: TensorCollection<f32, Cpu>>(
    model: &M,
    targets: &[SparsifyTarget],
) -> Result<HashMap<&'static str, Vec<f32>>, CompressError> {
    targets.iter().map(|t| Ok((t.name, read_tensor(model, &t.weight_name())?.data))).collect()
}

/// Multiplies each layer's weight by its mask and, for masks over whole outputs, zeroes the bias
/// entries and the BatchNorm γ and β of the dropped channels. One write for the whole model.
pub(crate) fn apply_masks<M: TensorCollection<f32, Cpu>>(
    model: &mut M,
    masks: &[LayerMask],
) -> Result<(), CompressError> {
    let mut updates: Vec<(String, Vec<f32>)> = Vec::new();
    for mask in masks {
        let name = format!("{}.weight", mask.name);
        let mut w = read_tensor(model, &name)?.data;
        w.iter_mut().zip(&mask.weight).for_each(|(w, m)| *w *= m);
        updates.push((name, w));
        if let Some(outputs) = &mask.outputs {
            for tensor in &mask.output_tensors {
                let mut v = read_tensor(model, tensor)?.data;
                v.iter_mut().zip(outputs).for_each(|(v, m)| *v *= m);
                updates.push((tensor.clone(), v));
            }
        }
    }
    let refs: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(model, &refs)?;
    Ok(())
}

/// The sparsity of each target's weight, in model order.
pub(crate) fn report<M: TensorCollection<f32, Cpu>>(
    model: &M,
    targets: &[SparsifyTarget],
) -> Result<SparsityReport, CompressError> {
    let layers = targets
        .iter()
        .map(|t| Ok(LayerSparsity::measure(t.name, &read_tensor(model, &t.weight_name())?.data)))
        .collect::<Result<Vec<_>, CompressError>>()?;
    Ok(SparsityReport::new(layers))
}

/// Whether `criterion` scores with the gradient when one is given.
pub(crate) fn uses_gradient(criterion: Criterion) -> bool {
    matches!(criterion, Criterion::Taylor | Criterion::TaylorOrSquared)
}
