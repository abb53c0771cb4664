//! Prune plans read from a derived model: the filters that sparsification zeroed, or the filters a
//! criterion ranks lowest, for every prunable layer of [`Compressible::COUPLINGS`].

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::filters::{BnAffine, LayerFilters};
use super::plan::{LayerPlan, PrunePlan};
use crate::compress::sparsify::{
    global_masks, local_mask, resolve_targets, Context, ConvGranularity, Criteria, Granularity, LayerChoice,
    LayerScores, SparsifyTarget, WeightState,
};
use crate::compress::{CompressError, PruneError};
use crate::model::{read_tensor, Compressible};
use crate::units::Sparsity;

/// A prunable layer's tensors, copied out of the model.
struct Producer {
    target: SparsifyTarget,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    bn: Option<(Vec<f32>, Vec<f32>)>,
}

impl Producer {
    fn view(&self) -> LayerFilters<'_> {
        LayerFilters {
            name: self.target.name,
            width: self.target.width(),
            weight: &self.weight,
            bias: self.bias.as_deref(),
            bn: self.bn.as_ref().map(|(gamma, beta)| BnAffine { gamma, beta }),
        }
    }
}

/// The producers of `M::COUPLINGS` (every conv and linear layer but the classifier), in model
/// order, resolved like sparsification targets with one group per output channel (`filter` on a
/// conv, `row` on a linear layer).
fn producers<M>(model: &M) -> Result<Vec<Producer>, PruneError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let names = LayerChoice::named(M::COUPLINGS.iter().map(|c| c.producer));
    let filter = Granularity::Conv(ConvGranularity::Filter);
    let targets = resolve_targets::<M>(&names, &[], Sparsity::ZERO, filter, None)?;
    let read = |name: &str| read_tensor(model, name).map(|t| t.data);
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let weight = read(&target.weight_name())?;
        let bias = target.bias_name().map(|b| read(&b)).transpose()?;
        let bn = match target.bn_names() {
            Some((gamma, beta)) => Some((read(&gamma)?, read(&beta)?)),
            None => None,
        };
        out.push(Producer { target, weight, bias, bn });
    }
    Ok(out)
}

impl PrunePlan {
    /// One [`LayerPlan`] per prunable layer of the model (each producer of
    /// [`Compressible::COUPLINGS`]), keeping the filters that are not entirely zero: weights, bias
    /// and, when a BatchNorm follows, its γ and β (see [`PrunePlan::from_zero_filters`]). After filter
    /// sparsification with [`Sparsifier`](crate::compress::sparsify::Sparsifier) or
    /// [`SparsifyCallback`](crate::compress::sparsify::SparsifyCallback), this is the plan whose
    /// pruned model computes the same outputs.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::PrunePlan;
    /// use fasterai_runtime::dfdx::{nn::TensorCollection, prelude::Cpu};
    /// use fasterai_runtime::model::Compressible;
    /// /// The width each prunable layer keeps, for printing.
    /// fn widths<M: Compressible + TensorCollection<f32, Cpu>>(model: &M) -> Result<Vec<(String, usize)>, fasterai_runtime::Error> {
    ///     let plan = PrunePlan::from_model(model)?;
    ///     Ok(plan.layers().iter().map(|l| (l.name.clone(), l.new_width())).collect())
    /// }
    /// ```
    pub fn from_model<M>(model: &M) -> Result<Self, PruneError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        let producers = producers(model)?;
        let views: Vec<LayerFilters<'_>> = producers.iter().map(Producer::view).collect();
        Ok(Self::from_zero_filters(&views)?)
    }

    /// Ranks the output channels of every prunable layer by `criteria` (mean score over a filter,
    /// or a row of a linear layer) and drops `sparsity` of them, per layer ([`Context::Local`]) or
    /// across layers ([`Context::Global`], with its [`GlobalOptions`](crate::compress::sparsify::GlobalOptions)).
    /// Every layer keeps at least its best channel. Criteria that need more than the current
    /// weights (initial weights, gradients, activations) are an error naming what is missing.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::PrunePlan;
    /// use fasterai_runtime::compress::sparsify::{Context, Criteria, Criterion, GlobalOptions};
    /// use fasterai_runtime::dfdx::{nn::TensorCollection, prelude::Cpu};
    /// use fasterai_runtime::model::Compressible;
    /// use fasterai_runtime::units::Sparsity;
    /// /// Half the channels, ranked across layers with per-layer normalisation and a floor.
    /// fn half<M: Compressible + TensorCollection<f32, Cpu>>(model: &M) -> Result<PrunePlan, fasterai_runtime::Error> {
    ///     let half = Sparsity::from_percent(50.0)?;
    ///     Ok(PrunePlan::from_criterion(model, half, Context::Global(GlobalOptions::balanced()), Criteria::new(Criterion::LargeFinal))?)
    /// }
    /// ```
    pub fn from_criterion<M>(
        model: &M,
        sparsity: Sparsity,
        context: Context,
        criteria: Criteria,
    ) -> Result<Self, PruneError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        let producers = producers(model)?;
        let mut scores = Vec::with_capacity(producers.len());
        for p in &producers {
            let state = WeightState::new(&p.weight, &p.target.shape);
            scores.push(criteria.scores(&state, p.target.granularity)?.values);
        }
        let masks: Vec<Vec<f32>> = match context {
            Context::Local => {
                scores.iter().map(|s| local_mask(s, sparsity, None)).collect::<Result<_, CompressError>>()?
            }
            Context::Global(options) => {
                let layers: Vec<LayerScores> = producers
                    .iter()
                    .zip(&scores)
                    .map(|(p, s)| LayerScores {
                        name: p.target.name.to_string(),
                        scores: s.clone(),
                        params_per_group: p.weight.len() / p.target.width(),
                    })
                    .collect();
                global_masks(&layers, sparsity, &options)?
            }
        };
        let mut plans = Vec::with_capacity(producers.len());
        for ((p, mask), s) in producers.iter().zip(masks).zip(&scores) {
            let mut kept: Vec<usize> = (0..mask.len()).filter(|&o| mask[o] != 0.0).collect();
            if kept.is_empty() {
                // The best channel: highest score, the earlier one on ties.
                let best = (0..s.len()).fold(0, |b, o| if s[o] > s[b] { o } else { b });
                kept.push(best);
            }
            plans.push(LayerPlan { name: p.target.name.to_string(), width: p.target.width(), kept });
        }
        Ok(Self::new(plans)?)
    }
}
