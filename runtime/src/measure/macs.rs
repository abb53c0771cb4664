//! Multiply-accumulate operations (MACs) of one forward pass on one sample.
//!
//! Counting rule: one MAC per weight multiplication that is summed into an output. Convolutions and
//! fully connected layers count `inputs per output × outputs`; bias additions, activations, pooling
//! and BatchNorm count 0. BatchNorm counts 0 because at inference it is an affine map per element
//! that batch-norm folding merges into the preceding conv or linear layer, so the count describes
//! the work that cannot be removed. With this rule DESIGN.md's SmallVgg on 1×28×28 counts
//! 19,094,528 MACs (its "19.1 M").

use dfdx::{shapes::Dtype, tensor_ops::Device};

/// Layers that know how many multiply-adds one forward pass costs.
///
/// `input` is the shape of one sample entering the layer, without the batch dimension
/// (`[C, H, W]` for images, `[features]` after a flatten). The derive macro, which knows every
/// layer's input shape, sums these over a model.
///
/// ```
/// use fasterai_runtime::{measure::Macs, nn::Linear, prelude::*};
/// let fc: Linear<3136, 256> = BuildModule::build(&Cpu::default());
/// assert_eq!(fc.macs(&[3136]), 802_816);
/// ```
pub trait Macs {
    /// Multiply-adds of one forward pass on one sample of shape `input`.
    fn macs(&self, input: &[usize]) -> u64;
}

/// MACs of a 2-D convolution: every output pixel of every output channel sums `in_c × k × k`
/// products.
///
/// ```
/// use fasterai_runtime::measure::conv2d_macs;
/// // 32 → 64 channels, 3×3 kernel, 14×14 output.
/// assert_eq!(conv2d_macs(32, 64, 3, 14, 14), 3_612_672);
/// ```
pub const fn conv2d_macs(in_c: usize, out_c: usize, k: usize, out_h: usize, out_w: usize) -> u64 {
    (in_c * out_c * k * k) as u64 * (out_h * out_w) as u64
}

/// MACs of a fully connected layer on one input vector.
pub const fn linear_macs(inputs: usize, outputs: usize) -> u64 {
    inputs as u64 * outputs as u64
}

/// Rows a linear layer is applied to: all dims but the last (1 for a plain vector).
fn rows(input: &[usize]) -> u64 {
    match input.split_last() {
        Some((_, leading)) => leading.iter().map(|&d| d as u64).product(),
        None => 1,
    }
}

impl<const I: usize, const O: usize, E: Dtype, D: Device<E>> Macs for dfdx::nn::modules::Linear<I, O, E, D> {
    fn macs(&self, input: &[usize]) -> u64 {
        rows(input) * linear_macs(I, O)
    }
}

impl<const I: usize, const O: usize, E: Dtype, D: Device<E>> Macs
    for dfdx::nn::modules::UnbiasedLinear<I, O, E, D>
{
    fn macs(&self, input: &[usize]) -> u64 {
        rows(input) * linear_macs(I, O)
    }
}

/// Counted 0: folded into the previous layer at inference (see the module docs).
impl<const C: usize, E: Dtype, D: Device<E>> Macs for crate::nn::BatchNorm2D<C, E, D> {
    fn macs(&self, _input: &[usize]) -> u64 {
        0
    }
}

/// Counted 0: folded into the previous layer at inference (see the module docs).
impl<const C: usize, E: Dtype, D: Device<E>> Macs for dfdx::nn::modules::BatchNorm1D<C, E, D> {
    fn macs(&self, _input: &[usize]) -> u64 {
        0
    }
}

/// No multiplication.
impl Macs for crate::nn::ReLU {
    fn macs(&self, _input: &[usize]) -> u64 {
        0
    }
}

/// The identity at inference.
impl Macs for dfdx::nn::modules::Dropout {
    fn macs(&self, _input: &[usize]) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::{BuildModule, Cpu};

    use super::*;
    use crate::nn::{BatchNorm2D, Linear, ReLU, UnbiasedLinear};

    #[test]
    fn linear_counts_inputs_times_outputs_per_row() {
        let dev = Cpu::default();
        let fc = Linear::<5, 3>::build(&dev);
        assert_eq!(fc.macs(&[5]), 15);
        assert_eq!(fc.macs(&[4, 5]), 60, "applied to 4 rows");
        let unbiased = UnbiasedLinear::<5, 3>::build(&dev);
        assert_eq!(unbiased.macs(&[5]), 15, "the bias adds nothing");
        assert_eq!(BatchNorm2D::<8>::build(&dev).macs(&[8, 4, 4]), 0);
        assert_eq!(ReLU.macs(&[8, 4, 4]), 0);
    }

    #[test]
    fn conv2d_macs_matches_a_direct_loop_count() {
        // Count the products of a naive 2-D convolution (stride 2, padding 1) one by one.
        let (in_c, out_c, k, h, w, s, p) = (3usize, 4usize, 3usize, 7usize, 6usize, 2usize, 1usize);
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let mut products = 0u64;
        for _o in 0..out_c {
            for _y in 0..oh {
                for _x in 0..ow {
                    for _c in 0..in_c {
                        for _ky in 0..k {
                            for _kx in 0..k {
                                products += 1; // padded zeros are multiplied too, as every library counts
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(conv2d_macs(in_c, out_c, k, oh, ow), products);
    }

    #[test]
    fn small_vgg_counts_the_design_figure() {
        let convs = conv2d_macs(1, 32, 3, 28, 28)
            + conv2d_macs(32, 32, 3, 28, 28)
            + conv2d_macs(32, 64, 3, 14, 14)
            + conv2d_macs(64, 64, 3, 14, 14);
        let fcs = linear_macs(3136, 256) + linear_macs(256, 10);
        assert_eq!(convs + fcs, 19_094_528);
    }
}
