//! Prune plans read from a derived model: the filters that sparsification zeroed, or the filters a
//! criterion ranks lowest, for every prunable layer of [`Compressible::COUPLINGS`] and every channel
//! group several layers write through skip connections ([`Compressible::CHANNEL_GROUPS`]), whose
//! members keep the same channels.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::filters::{BnAffine, LayerFilters};
use super::groups::{coupled_groups, in_model_order};
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

/// The units of pruning of `M`, in model order: each producer of `M::COUPLINGS` (every conv and
/// linear layer whose channels are its own, but the classifier) alone, then each channel group
/// several layers write through skip connections, whose members keep the same channels. Each
/// member is resolved like a sparsification target with one group per output channel (`filter`
/// on a conv, `row` on a linear layer).
fn units<M>(model: &M) -> Result<Vec<Vec<Producer>>, PruneError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut names: Vec<Vec<&str>> = M::COUPLINGS.iter().map(|c| vec![c.producer]).collect();
    names.extend(coupled_groups::<M>().map(|g| g.producers.to_vec()));
    let all = LayerChoice::named(names.iter().flatten().copied());
    let filter = Granularity::Conv(ConvGranularity::Filter);
    let targets = resolve_targets::<M>(&all, &[], Sparsity::ZERO, filter, None)?;
    let read = |name: &str| read_tensor(model, name).map(|t| t.data);
    let mut producers = Vec::with_capacity(targets.len());
    for target in targets {
        let weight = read(&target.weight_name())?;
        let bias = target.bias_name().map(|b| read(&b)).transpose()?;
        let bn = match target.bn_names() {
            Some((gamma, beta)) => Some((read(&gamma)?, read(&beta)?)),
            None => None,
        };
        producers.push(Producer { target, weight, bias, bn });
    }
    let mut units = Vec::with_capacity(names.len());
    for unit in names {
        let members = unit
            .iter()
            .map(|name| {
                let at = producers.iter().position(|p| p.target.name == *name).expect("every named layer was resolved");
                producers.swap_remove(at)
            })
            .collect();
        units.push(members);
    }
    Ok(units)
}

/// One plan entry per member of `unit`, all keeping `kept`.
fn unit_plans(unit: &[Producer], kept: &[usize]) -> Vec<LayerPlan> {
    unit.iter().map(|p| LayerPlan { name: p.target.name.to_string(), width: p.target.width(), kept: kept.to_vec() }).collect()
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
        let mut plans = Vec::new();
        for unit in units(model)? {
            let views: Vec<LayerFilters<'_>> = unit.iter().map(Producer::view).collect();
            // A channel of a group is dead when it is zero in every member.
            let mut kept: Vec<usize> = Vec::new();
            for layer in Self::from_zero_filters(&views)?.layers() {
                kept.extend(&layer.kept);
            }
            kept.sort_unstable();
            kept.dedup();
            plans.extend(unit_plans(&unit, &kept));
        }
        in_model_order::<M>(&mut plans);
        Ok(Self::new(plans)?)    }

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
        let units = units(model)?;
        // A unit's score per channel: the sum over its members (DepGraph's group importance).
        let mut scores: Vec<Vec<f32>> = Vec::with_capacity(units.len());
        for unit in &units {
            let mut sum: Vec<f32> = Vec::new();
            for p in unit {
                let state = WeightState::new(&p.weight, &p.target.shape);
                let member = criteria.scores(&state, p.target.granularity)?.values;
                if sum.is_empty() {
                    sum = member;
                } else {
                    sum.iter_mut().zip(member).for_each(|(s, m)| *s += m);
                }
            }
            scores.push(sum);
        }
        let masks: Vec<Vec<f32>> = match context {
            Context::Local => {
                scores.iter().map(|s| local_mask(s, sparsity, None)).collect::<Result<_, CompressError>>()?
            }
            Context::Global(options) => {
                let layers: Vec<LayerScores> = units
                    .iter()
                    .zip(&scores)
                    .map(|(unit, s)| LayerScores {
                        name: unit[0].target.name.to_string(),
                        scores: s.clone(),
                        params_per_group: unit.iter().map(|p| p.weight.len() / p.target.width()).sum(),
                    })
                    .collect();
                global_masks(&layers, sparsity, &options)?
            }
        };
        let mut plans = Vec::with_capacity(units.len());
        for ((unit, mask), s) in units.iter().zip(masks).zip(&scores) {
            let mut kept: Vec<usize> = (0..mask.len()).filter(|&o| mask[o] != 0.0).collect();
            if kept.is_empty() {
                // The best channel: highest score, the earlier one on ties.
                let best = (0..s.len()).fold(0, |b, o| if s[o] > s[b] { o } else { b });
                kept.push(best);
            }
            plans.extend(unit_plans(unit, &kept));
        }
        in_model_order::<M>(&mut plans);
        Ok(Self::new(plans)?)
    }
}
