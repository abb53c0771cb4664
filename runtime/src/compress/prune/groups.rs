//! Channel groups in prune plans: the layers that write the same channels through skip
//! connections ([`Compressible::CHANNEL_GROUPS`] with several producers) keep the same channels,
//! chosen by the group's summed score, as torch-pruning's DepGraph does.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::plan::{LayerPlan, PrunePlan};
use crate::compress::PruneError;
use crate::model::{read_tensor, ChannelGroup, Compressible};

impl PrunePlan {
    /// Checks that the members of each coupled group (`groups`: the producers of each channel
    /// group with several) keep the same channels: all in the plan with equal kept lists, or none
    /// in it. The generated `from_source` of a pruned residual model calls it before copying.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::{LayerPlan, PrunePlan};
    /// let plan = PrunePlan::new(vec![
    ///     LayerPlan { name: "conv1".into(), width: 4, kept: vec![0, 2] },
    ///     LayerPlan { name: "layer1.conv2".into(), width: 4, kept: vec![0, 3] },
    /// ])?;
    /// let error = plan.check_groups(&[&["conv1", "layer1.conv2"]]).unwrap_err();
    /// assert!(error.to_string().contains("write the same channels"));
    /// # Ok::<(), fasterai_runtime::compress::PruneError>(())
    /// ```
    pub fn check_groups(&self, groups: &[&[&str]]) -> Result<(), PruneError> {
        for members in groups {
            let Some((&first, rest)) = members.split_first() else { continue };
            let kept = self.kept(first);
            if let Some(&other) = rest.iter().find(|&&other| self.kept(other) != kept) {
                return Err(PruneError::SplitGroup {
                    layer: first.to_string(),
                    kept: kept.map(<[usize]>::to_vec),
                    other: other.to_string(),
                    other_kept: self.kept(other).map(<[usize]>::to_vec),
                    members: members.iter().map(|m| m.to_string()).collect(),
                });
            }
        }
        Ok(())
    }
}

/// The groups of `M` whose channels several layers write (the skip connections' channels).
pub fn coupled_groups<M: Compressible>() -> impl Iterator<Item = &'static ChannelGroup> {
    M::CHANNEL_GROUPS.iter().filter(|group| group.prunable && group.producers.len() > 1)
}

/// One plan entry per member of a coupled `group`, all keeping the `width` channels with the
/// largest summed L1 norm over the members' filters, in their original order (ties keep the lower
/// index). For the channels a sparsification zeroed in every member, see
/// [`PrunePlan::from_model`], which lists the groups too.
pub fn group_plans<M>(model: &M, group: &ChannelGroup, width: usize) -> Result<Vec<LayerPlan>, PruneError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let channels = group.channels;
    let mut l1 = vec![0.0f64; channels];
    for &producer in group.producers {
        let weight = read_tensor(model, &format!("{producer}.weight"))?.data;
        let per = weight.len() / channels.max(1);
        if per == 0 || weight.len() != per * channels {
            return Err(PruneError::Length { layer: producer.to_string(), what: "weight", expected: channels, got: weight.len() });
        }
        for (c, filter) in weight.chunks(per).enumerate() {
            let sum: f64 = filter.iter().map(|w| f64::from(w.abs())).sum();
            if !sum.is_finite() {
                return Err(PruneError::NonFiniteScore { layer: producer.to_string(), filter: c });
            }
            l1[c] += sum;
        }
    }
    let kept = largest_scores(&l1, width.clamp(1, channels));
    Ok(group.producers.iter().map(|p| LayerPlan { name: p.to_string(), width: channels, kept: kept.clone() }).collect())
}

/// The indices of the `width` largest `scores`, in increasing order (ties keep the lower index).
pub(crate) fn largest_scores(scores: &[f64], width: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept: Vec<usize> = order.into_iter().take(width).collect();
    kept.sort_unstable();
    kept
}

/// Sorts plan entries in the order of `M`'s layers (plans list layers in model order).
pub fn in_model_order<M: Compressible>(plans: &mut [LayerPlan]) {
    plans.sort_by_key(|plan| M::LAYERS.iter().position(|l| l.name == plan.name));
}
