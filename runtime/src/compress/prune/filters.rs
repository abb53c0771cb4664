//! The filters of a prunable layer as plain slices, and owned copies taken from typed layers.

use dfdx::prelude::{Cpu, Rank1, Rank2, Rank4, Tensor};

use crate::compress::PruneError;
use crate::nn::{BatchNorm1D, BatchNorm2D};

/// A BatchNorm's affine parameters γ (scale) and β (shift), one per channel.
#[derive(Debug, Clone, Copy)]
pub struct BnAffine<'a> {
    /// γ (`weight` in our BatchNorm2D, `scale` in dfdx's BatchNorm1D).
    pub gamma: &'a [f32],
    /// β (`bias`).
    pub beta: &'a [f32],
}

/// The filters of one prunable layer as plain slices: what the plan constructors look at.
#[derive(Debug, Clone, Copy)]
pub struct LayerFilters<'a> {
    /// The layer's field name.
    pub name: &'a str,
    /// Output channels (filters).
    pub width: usize,
    /// Weights, out-channel-major (`width` rows of equal length).
    pub weight: &'a [f32],
    /// The bias, if the layer has one.
    pub bias: Option<&'a [f32]>,
    /// The BatchNorm that follows, if any.
    pub bn: Option<BnAffine<'a>>,
}

impl LayerFilters<'_> {
    pub(super) fn check(&self) -> Result<usize, PruneError> {
        let layer = || self.name.to_string();
        if self.width == 0 {
            return Err(PruneError::ZeroWidth { layer: layer() });
        }
        if self.weight.is_empty() || !self.weight.len().is_multiple_of(self.width) {
            let expected = self.width * (self.weight.len() / self.width).max(1);
            return Err(PruneError::Length {
                layer: layer(),
                what: "weight",
                expected,
                got: self.weight.len(),
            });
        }
        let per_channel = [
            ("bias", self.bias),
            ("BatchNorm gamma", self.bn.map(|b| b.gamma)),
            ("BatchNorm beta", self.bn.map(|b| b.beta)),
        ];
        for (what, slice) in per_channel {
            if let Some(s) = slice.filter(|s| s.len() != self.width) {
                return Err(PruneError::Length { layer: layer(), what, expected: self.width, got: s.len() });
            }
        }
        Ok(self.weight.len() / self.width)
    }

    pub(super) fn row(&self, filter: usize, per_filter: usize) -> &[f32] {
        &self.weight[filter * per_filter..(filter + 1) * per_filter]
    }

    /// L1 norm of each filter's weights, in f64.
    pub(super) fn l1_scores(&self) -> Result<Vec<f64>, PruneError> {
        let per_filter = self.check()?;
        (0..self.width)
            .map(|o| {
                let l1: f64 = self.row(o, per_filter).iter().map(|w| f64::from(w.abs())).sum();
                if l1.is_finite() {
                    Ok(l1)
                } else {
                    Err(PruneError::NonFiniteScore { layer: self.name.to_string(), filter: o })
                }
            })
            .collect()
    }
}

/// An owned copy of a layer's filters taken from dfdx tensors, so generated code can describe a
/// model in one line per prunable layer; [`FilterData::view`] lends it as [`LayerFilters`].
///
/// ```
/// use fasterai_runtime::compress::prune::{FilterData, PrunePlan};
/// use fasterai_runtime::nn::BatchNorm2D;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let weight = dev.sample_normal::<Rank4<8, 3, 3, 3>>();
/// let bias = dev.zeros::<Rank1<8>>();
/// let bn = dev.build_module::<BatchNorm2D<8>, f32>();
/// let data = [FilterData::conv("conv1", &weight, Some(&bias), Some(&bn))];
/// let views: Vec<_> = data.iter().map(FilterData::view).collect();
/// let plan = PrunePlan::from_zero_filters(&views)?;
/// assert_eq!(plan.get("conv1").unwrap().new_width(), 8); // nothing is zero yet
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FilterData {
    name: String,
    width: usize,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    bn: Option<(Vec<f32>, Vec<f32>)>,
}

impl FilterData {
    /// The filters of a conv with weight `(O, I, K, K)`, its bias if any, and the BatchNorm after
    /// it if any.
    pub fn conv<const I: usize, const O: usize, const K: usize>(
        name: &str,
        weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
        bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
        bn: Option<&BatchNorm2D<O>>,
    ) -> Self {
        Self::of(name, weight.as_vec(), bias, bn.map(|bn| (bn.weight.as_vec(), bn.bias.as_vec())))
    }

    /// The output neurons of a Linear with weight `(O, I)`, its bias if any, and the BatchNorm1D
    /// after it if any.
    pub fn linear<const I: usize, const O: usize>(
        name: &str,
        weight: &Tensor<Rank2<O, I>, f32, Cpu>,
        bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
        bn: Option<&BatchNorm1D<O>>,
    ) -> Self {
        Self::of(name, weight.as_vec(), bias, bn.map(|bn| (bn.scale.as_vec(), bn.bias.as_vec())))
    }

    /// `O` output channels with the flattened `weight`, the layer's bias if any, and the
    /// BatchNorm's `(γ, β)` if any.
    fn of<const O: usize>(
        name: &str,
        weight: Vec<f32>,
        bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
        bn: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Self {
        Self { name: name.to_string(), width: O, weight, bias: bias.map(|b| b.as_vec()), bn }
    }

    /// Borrows the copy as the slices the plan constructors read.
    pub fn view(&self) -> LayerFilters<'_> {
        LayerFilters {
            name: &self.name,
            width: self.width,
            weight: &self.weight,
            bias: self.bias.as_deref(),
            bn: self.bn.as_ref().map(|(gamma, beta)| BnAffine { gamma, beta }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{BatchNorm1D, BatchNorm2D};
    use dfdx::prelude::*;

    #[test]
    fn typed_copies_keep_the_values_and_their_order() {
        let dev: Cpu = Default::default();
        let conv = dev.sample_normal::<Rank4<4, 2, 3, 3>>();
        let bias = dev.sample_normal::<Rank1<4>>();
        let mut bn: BatchNorm2D<4> = BuildModule::build(&dev);
        bn.weight = dev.tensor([1.0, 2.0, 3.0, 4.0]);
        let data = FilterData::conv("c", &conv, Some(&bias), Some(&bn));
        let view = data.view();
        assert_eq!((view.name, view.width), ("c", 4));
        assert_eq!(view.weight, conv.as_vec().as_slice());
        assert_eq!(view.row(2, 18), &conv.as_vec()[36..54]);
        assert_eq!(view.bias.unwrap(), bias.as_vec().as_slice());
        assert_eq!(view.bn.unwrap().gamma, &[1.0, 2.0, 3.0, 4.0]);

        let fc = dev.sample_normal::<Rank2<3, 5>>();
        let mut bn1: BatchNorm1D<3> = BuildModule::build(&dev);
        bn1.bias = dev.tensor([0.5, 0.0, -0.5]);
        let data = FilterData::linear("fc", &fc, None, Some(&bn1));
        let view = data.view();
        assert_eq!((view.width, view.bias), (3, None));
        assert_eq!(view.bn.unwrap().beta, &[0.5, 0.0, -0.5]);
        assert_eq!(view.check().unwrap(), 5);
    }
}
