//! `PruneCallback`: prune filters gradually while fine-tuning, then hand over the [`PrunePlan`]
//! that converts the model to its pruned type (see [`PruneCallback`]).

use std::sync::{Arc, Mutex};

use dfdx::nn::TensorCollection;
use dfdx::prelude::{Cpu, Gradients, Shape};

use super::plan::PrunePlan;
use crate::compress::sparsify::mask::units_to_drop;
use crate::compress::sparsify::{
    Context, ConvGranularity, Criteria, Granularity, SparsitySchedule, Sparsifier, SparsifyCallback, SparsifyTarget,
    SparsityReport,
};
use crate::compress::{CompressError, PruneError};
use crate::data::Batch;
use crate::learn::{Callback, Context as Step, Control, EpochRecord, Forward, LearnError, Output, TapedLoss};
use crate::model::{Compressible, LayerKindInfo};
use crate::units::{Ratio, Sparsity};

/// A shared slot for the plan a [`PruneCallback`] makes at the end of `fit`: keep one before the
/// callback moves into a [`Learner`](crate::learn::Learner) to read the plan afterwards.
///
/// ```
/// use fasterai_runtime::compress::prune::PlanHandle;
/// let handle = PlanHandle::default();
/// let copy = handle.clone(); // what `PruneCallback::plan_handle` returns: the same slot
/// assert!(copy.get().is_none(), "no fit has ended yet");
/// ```
#[derive(Debug, Clone, Default)]
pub struct PlanHandle(Arc<Mutex<Option<PrunePlan>>>);

impl PlanHandle {
    /// The plan of the last fit that ended, `None` before.
    pub fn get(&self) -> Option<PrunePlan> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set(&self, plan: Option<PrunePlan>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = plan;
    }
}

/// Prunes the filters of a model during training, then gives the plan that converts it.
///
/// It is a [`SparsifyCallback`] with filter granularity on every convolution, plus the plan at the
/// end; it adds no mask logic of its own:
/// - during training, the masks follow the [`SparsitySchedule`] exactly as in [`SparsifyCallback`]: when
///   the scheduled share of filters changes, the filters the criteria rank lowest are zeroed (per
///   layer with [`Context::Local`], across layers with [`Context::Global`]), with their bias entry
///   and the γ and β of the BatchNorm after them, and the masks are applied again after every
///   optimizer step, so pruned filters stay at zero while the rest fine-tune;
/// - in `after_fit`, the filters that are exactly zero become a [`PrunePlan`]
///   ([`PrunePlan::from_model`]), which [`PruneCallback::plan`] or a [`PlanHandle`] gives back
///   after `fit`; [`PrunePlan::convert`] (or the generated `Pruned::from_source`) then builds the
///   pruned type, which computes the same outputs as the masked model.
///
/// The ratio is a share of **channels** (filters), as in torch-pruning and fasterai's `Pruner`:
/// removing a share `r` of every conv's filters removes about `1 − (1 − r)²` of the parameters of
/// the convolutions that follow one another. Differences from fasterai's `PruneCallback`, which
/// removes channels before every optimizer step through torch-pruning: here channels are masked on
/// the schedule (whose `start_pct`/`end_pct` are honoured) and removed once, at the end, because
/// the model's type fixes its widths; the schedule must therefore reach its final value by the end
/// of the fit for the widths to be those of the target (every built-in schedule does).
///
/// ```
/// use fasterai_runtime::compress::prune::PruneCallback;
/// use fasterai_runtime::compress::sparsify::{Context, Criteria, Criterion, SparsitySchedule};
/// use fasterai_runtime::units::Ratio;
/// use fasterai_runtime::model::Compressible;
///
/// /// Half the filters of each convolution, the weakest by |W|, on a cosine schedule; checked
/// /// against the pruned type `P` before any training.
/// fn half<M: Compressible, P: Compressible>() -> Result<PruneCallback<M>, fasterai_runtime::Error> {
///     let half = Ratio::from_percent(50.0)?;
///     let callback = PruneCallback::new(half, SparsitySchedule::cos(), Context::Local, Criteria::new(Criterion::LargeFinal))?;
///     callback.check_fits::<P>()?;
///     Ok(callback)
/// }
/// // let handle = callback.plan_handle();
/// // learner.with_callback(callback).fit(..)?;
/// // let pruned: Pruned = handle.get().expect("fit ran").convert(learner.model())?;
/// ```
pub struct PruneCallback<M> {
    ratio: Ratio,
    sparsify: SparsifyCallback<M>,
    plan: PlanHandle,
}

// By hand: derives would ask `M: Debug` and `M: Clone`, which the callback does not need.
impl<M> std::fmt::Debug for PruneCallback<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PruneCallback")
            .field("ratio", &self.ratio)
            .field("sparsify", &self.sparsify)
            .field("plan", &self.plan)
            .finish()
    }
}

impl<M> Clone for PruneCallback<M> {
    /// A copy with its own plan slot (handles of the original do not see the copy's plan).
    fn clone(&self) -> Self {
        Self { ratio: self.ratio, sparsify: self.sparsify.clone(), plan: PlanHandle(Arc::new(Mutex::new(self.plan.get()))) }
    }
}

impl<M: Compressible> PruneCallback<M> {
    /// Removes `ratio` of the filters of every convolution of `M` by the end of training, along
    /// `schedule`, ranked in `context` by `criteria`. Checks the settings against `M` now.
    pub fn new(ratio: Ratio, schedule: SparsitySchedule, context: Context, criteria: Criteria) -> Result<Self, CompressError> {
        let sparsity = Sparsity::FULL.scaled(ratio.fraction());
        let filters = Granularity::Conv(ConvGranularity::Filter);
        let sparsifier = Sparsifier::new(sparsity, filters, context, criteria);
        Ok(Self { ratio, sparsify: SparsifyCallback::new(sparsifier, schedule)?, plan: PlanHandle::default() })
    }

    /// Whether to print the per-layer sparsity after each epoch ([`SparsifyCallback::with_output`]).
    pub fn with_output(self, output: Output) -> Self {
        Self { sparsify: self.sparsify.with_output(output), ..self }
    }

    /// With an activation criterion (`wanda`), calibrate on the last `n` training batches
    /// (default 5; see [`SparsifyCallback::calibration_batches`]).
    pub fn calibration_batches(self, n: std::num::NonZeroUsize) -> Self {
        Self { sparsify: self.sparsify.calibration_batches(n), ..self }
    }

    /// The share of filters removed by the end.
    pub fn ratio(&self) -> Ratio {
        self.ratio
    }

    /// The convolutions being pruned, with their final targets.
    pub fn targets(&self) -> &[SparsifyTarget] {
        self.sparsify.targets()
    }

    /// The sparsity of each convolution at the end of the last epoch.
    pub fn report(&self) -> &SparsityReport {
        self.sparsify.report()
    }

    /// One report per epoch of the last fit.
    pub fn history(&self) -> &[SparsityReport] {
        self.sparsify.history()
    }

    /// The plan of the last fit (the filters that ended at zero); `None` before a fit ended.
    pub fn plan(&self) -> Option<PrunePlan> {
        self.plan.get()
    }

    /// A handle on the plan that stays valid after the callback moved into a learner.
    pub fn plan_handle(&self) -> PlanHandle {
        self.plan.clone()
    }

    /// Checks before training that the pruned type `P` declares, for every prunable layer of `M`,
    /// the width this callback leaves: `width − ⌊ratio·width⌋` for the convolutions (the rule of
    /// [`local_mask`](crate::compress::sparsify::local_mask)), the full width for the others. With
    /// [`Context::Global`], widths depend on training, so only the conversion checks them.
    pub fn check_fits<P: Compressible>(&self) -> Result<(), PruneError> {
        if self.is_global() {
            return Ok(());
        }
        let declared_width = |name: &str| {
            P::LAYERS.iter().find(|l| l.name == name).and_then(|l| match l.kind {
                LayerKindInfo::Conv2D { out_channels, .. } => Some(out_channels),
                LayerKindInfo::Linear { out_features, .. } => Some(out_features),
                _ => None,
            })
        };
        for coupling in M::COUPLINGS {
            let name = coupling.producer;
            let Some(width) = M::LAYERS.iter().find(|l| l.name == name).and_then(|l| match l.kind {
                LayerKindInfo::Conv2D { out_channels, .. } => Some(out_channels),
                LayerKindInfo::Linear { out_features, .. } => Some(out_features),
                _ => None,
            }) else {
                continue;
            };
            let kept = match self.targets().iter().find(|t| t.name == name) {
                Some(t) => width - units_to_drop(width, t.sparsity),
                None => width,
            };
            let Some(declared) = declared_width(name) else {
                let valid = P::LAYERS
                    .iter()
                    .filter(|l| matches!(l.kind, LayerKindInfo::Conv2D { .. } | LayerKindInfo::Linear { .. }))
                    .map(|l| l.name.to_string())
                    .collect();
                return Err(PruneError::UnknownLayer { layer: name.to_string(), valid });
            };
            if declared != kept {
                return Err(PruneError::RatioMismatch {
                    layer: name.to_string(),
                    ratio: self.ratio.to_string(),
                    width,
                    kept,
                    pruned_type: std::any::type_name::<P>(),
                    declared,
                });
            }
        }
        Ok(())
    }

    fn is_global(&self) -> bool {
        matches!(self.sparsify.sparsifier().context(), Context::Global(_))
    }
}

fn fail(e: impl Into<crate::learn::BoxedError>) -> LearnError {
    LearnError::callback("prune", e)
}

impl<M, X: Shape, const K: usize> Callback<M, X, K> for PruneCallback<M>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    fn name(&self) -> &str {
        "prune"
    }

    fn before_fit(&mut self, ctx: &Step, model: &mut M) -> Result<(), LearnError> {
        self.plan.set(None);
        Callback::<M, X, K>::before_fit(&mut self.sparsify, ctx, model)
    }

    fn before_epoch(&mut self, ctx: &Step, model: &mut M) -> Result<(), LearnError> {
        Callback::<M, X, K>::before_epoch(&mut self.sparsify, ctx, model)
    }

    fn before_batch(&mut self, ctx: &Step, model: &mut M, batch: &Batch) -> Result<(), LearnError> {
        Callback::<M, X, K>::before_batch(&mut self.sparsify, ctx, model, batch)
    }

    fn after_pred(&mut self, ctx: &Step, forward: &Forward<'_, X, K>) -> Result<(), LearnError> {
        Callback::<M, X, K>::after_pred(&mut self.sparsify, ctx, forward)
    }

    fn after_loss(&mut self, ctx: &Step, forward: &Forward<'_, X, K>, loss: TapedLoss) -> Result<TapedLoss, LearnError> {
        Callback::<M, X, K>::after_loss(&mut self.sparsify, ctx, forward, loss)
    }

    fn before_step(&mut self, ctx: &Step, model: &M, grads: &mut Gradients<f32, Cpu>) -> Result<(), LearnError> {
        Callback::<M, X, K>::before_step(&mut self.sparsify, ctx, model, grads)
    }

    fn after_step(&mut self, ctx: &Step, model: &mut M) -> Result<(), LearnError> {
        Callback::<M, X, K>::after_step(&mut self.sparsify, ctx, model)
    }

    fn after_batch(&mut self, ctx: &Step, model: &M) -> Result<(), LearnError> {
        Callback::<M, X, K>::after_batch(&mut self.sparsify, ctx, model)
    }

    fn after_epoch(&mut self, ctx: &Step, model: &mut M, record: &EpochRecord) -> Result<Control, LearnError> {
        Callback::<M, X, K>::after_epoch(&mut self.sparsify, ctx, model, record)
    }

    fn after_fit(&mut self, ctx: &Step, model: &mut M) -> Result<(), LearnError> {
        Callback::<M, X, K>::after_fit(&mut self.sparsify, ctx, model)?;
        self.plan.set(Some(PrunePlan::from_model(model).map_err(fail)?));
        Ok(())
    }
}
