//! End-to-end checks: removing exactly-zero filters from a conv → BN → ReLU → consumer pipeline
//! changes no output, computed with a plain reference conv.

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::*;
use crate::test_support::{batchnorm_eval_reference, conv2d_reference, random_vec, ConvGeometry};
use crate::nn::{BatchNorm2D, Linear};

const I: usize = 3;
const O: usize = 6;
const O2: usize = 4;
const K: usize = 3;
/// Filters of conv1 that sparsification zeroed (weights, bias, BN γ and β).
const ZEROED: [usize; 2] = [1, 4];

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// conv1 (3 → 6, 3×3, padding 1) whose filters `ZEROED` are exactly zero, and the BN after it
/// with those γ, β zeroed and random running statistics everywhere (the dropped channels' μ and
/// σ² stay non-trivial: they must not matter).
struct ZeroedConvBn {
    weight: Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    bias: Tensor<Rank1<O>, f32, Cpu>,
    bn: BatchNorm2D<O>,
}

fn zeroed_conv_bn(dev: &Cpu, rng: &mut SmallRng) -> ZeroedConvBn {
    let mut w = random_vec(rng, O * I * K * K, 0.5);
    let mut b = random_vec(rng, O, 0.5);
    let mut gamma = random_vec(rng, O, 1.5);
    let mut beta = random_vec(rng, O, 0.5);
    for &o in &ZEROED {
        w[o * I * K * K..(o + 1) * I * K * K].fill(0.0);
        b[o] = 0.0;
        gamma[o] = 0.0;
        beta[o] = 0.0;
    }
    let mut bn: BatchNorm2D<O> = BuildModule::build(dev);
    bn.weight = dev.tensor_from_vec(gamma, (Const::<O>,));
    bn.bias = dev.tensor_from_vec(beta, (Const::<O>,));
    bn.running_mean = dev.tensor_from_vec(random_vec(rng, O, 1.0), (Const::<O>,));
    bn.running_var = dev.tensor_from_vec((0..O).map(|_| rng.gen_range(0.1f32..2.0)).collect(), (Const::<O>,));
    ZeroedConvBn {
        weight: dev.tensor_from_vec(w, (Const::<O>, Const::<I>, Const::<K>, Const::<K>)),
        bias: dev.tensor_from_vec(b, (Const::<O>,)),
        bn,
    }
}

fn plan_of(layer: &ZeroedConvBn) -> PrunePlan {
    let (w, b) = (layer.weight.as_vec(), layer.bias.as_vec());
    let (gamma, beta) = (layer.bn.weight.as_vec(), layer.bn.bias.as_vec());
    let filters = LayerFilters {
        name: "conv1",
        width: O,
        weight: &w,
        bias: Some(&b),
        bn: Some(BnAffine { gamma: &gamma, beta: &beta }),
    };
    PrunePlan::from_zero_filters(&[filters]).unwrap()
}

/// conv → our BatchNorm2D (eval) → ReLU, on NCHW slices; returns the activation and its (h, w).
fn conv_bn_relu<const C: usize>(
    dev: &Cpu,
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    bn: &BatchNorm2D<C>,
) -> (Vec<f32>, (usize, usize)) {
    let (oh, ow) = g.output_hw();
    let y = conv2d_reference(g, x, weight, bias);
    let y = bn.forward(dev.tensor_from_vec(y, (g.batch, Const::<C>, oh, ow))).relu().as_vec();
    (y, (oh, ow))
}

#[test]
fn removing_zero_filters_before_a_conv_changes_no_output() {
    let dev: Cpu = Default::default();
    let mut rng = SmallRng::seed_from_u64(21);
    let conv1 = zeroed_conv_bn(&dev, &mut rng);
    let conv2_weight = dev.tensor_from_vec(
        random_vec(&mut rng, 5 * O * K * K, 0.5),
        (Const::<5>, Const::<O>, Const::<K>, Const::<K>),
    );
    let conv2_bias = random_vec(&mut rng, 5, 0.5);
    let g1 = ConvGeometry {
        batch: 2,
        inputs: I,
        outputs: O,
        kernel: K,
        stride: 1,
        padding: 1,
        height: 6,
        width: 5,
    };
    let x = random_vec(&mut rng, g1.input_len(), 1.0);

    // The unpruned pipeline: conv1 → BN → ReLU → conv2 (stride 2).
    let (a, (h, w)) = conv_bn_relu(&dev, &g1, &x, &conv1.weight.as_vec(), &conv1.bias.as_vec(), &conv1.bn);
    let g2 = ConvGeometry {
        batch: 2,
        inputs: O,
        outputs: 5,
        kernel: K,
        stride: 2,
        padding: 1,
        height: h,
        width: w,
    };
    let expected = conv2d_reference(&g2, &a, &conv2_weight.as_vec(), &conv2_bias);

    // The plan finds exactly the zeroed filters; the typed wrappers rewire conv1, bn1 and conv2.
    let plan = plan_of(&conv1);
    let kept = plan.kept("conv1").unwrap();
    assert_eq!(kept, &[0, 2, 3, 5]);
    let (w1, b1) = select_conv_out::<I, O, O2, K>("conv1", &conv1.weight, &conv1.bias, kept).unwrap();
    let bn1: BatchNorm2D<O2> = select_batchnorm2d("bn1", &conv1.bn, kept).unwrap();
    let w2 = select_conv_in::<O, O2, 5, K>("conv2", &conv2_weight, kept).unwrap();

    let (a, _) =
        conv_bn_relu(&dev, &ConvGeometry { outputs: O2, ..g1 }, &x, &w1.as_vec(), &b1.as_vec(), &bn1);
    let got = conv2d_reference(&ConvGeometry { inputs: O2, ..g2 }, &a, &w2.as_vec(), &conv2_bias);
    // Dropped terms were exact zeros, so the sums agree to the last bit; allow float rounding anyway.
    let diff = max_abs_diff(&expected, &got);
    assert!(diff <= 1e-6, "pruned and unpruned outputs differ by {diff}");
}

#[test]
fn removing_zero_filters_before_flatten_and_linear_changes_no_output() {
    let dev: Cpu = Default::default();
    let mut rng = SmallRng::seed_from_u64(22);
    let conv1 = zeroed_conv_bn(&dev, &mut rng);
    // 4×3 images → 4×3 activations: the Linear reads 6 channels × 12 columns.
    const HW: usize = 12;
    let g = ConvGeometry {
        batch: 3,
        inputs: I,
        outputs: O,
        kernel: K,
        stride: 1,
        padding: 1,
        height: 4,
        width: 3,
    };
    let fc = {
        let mut fc: Linear<{ O * HW }, 5> = BuildModule::build(&dev);
        fc.weight =
            dev.tensor_from_vec(random_vec(&mut rng, 5 * O * HW, 0.3), (Const::<5>, Const::<{ O * HW }>));
        fc
    };
    let x = random_vec(&mut rng, g.input_len(), 1.0);

    let (a, _) = conv_bn_relu(&dev, &g, &x, &conv1.weight.as_vec(), &conv1.bias.as_vec(), &conv1.bn);
    let flat: Tensor<(usize, Const<{ O * HW }>), f32, Cpu> = dev.tensor_from_vec(a, (3usize, Const));
    let expected = fc.forward(flat).as_vec();

    let plan = plan_of(&conv1);
    let kept = plan.kept("conv1").unwrap();
    let (w1, b1) = select_conv_out::<I, O, O2, K>("conv1", &conv1.weight, &conv1.bias, kept).unwrap();
    let bn1: BatchNorm2D<O2> = select_batchnorm2d("bn1", &conv1.bn, kept).unwrap();
    let pruned_fc: Linear<{ O2 * HW }, 5> =
        Linear { weight: select_linear_in("fc1", &fc.weight, HW, kept).unwrap(), bias: fc.bias.clone() };

    let (a, _) = conv_bn_relu(&dev, &ConvGeometry { outputs: O2, ..g }, &x, &w1.as_vec(), &b1.as_vec(), &bn1);
    let flat: Tensor<(usize, Const<{ O2 * HW }>), f32, Cpu> = dev.tensor_from_vec(a, (3usize, Const));
    let got = pruned_fc.forward(flat).as_vec();
    let diff = max_abs_diff(&expected, &got);
    assert!(diff <= 1e-5, "pruned and unpruned outputs differ by {diff}");
}

#[test]
fn the_zeroed_channels_really_are_zero_after_bn_and_the_others_are_not() {
    // Guards the two tests above against passing vacuously.
    let dev: Cpu = Default::default();
    let mut rng = SmallRng::seed_from_u64(23);
    let conv1 = zeroed_conv_bn(&dev, &mut rng);
    let g = ConvGeometry {
        batch: 1,
        inputs: I,
        outputs: O,
        kernel: K,
        stride: 1,
        padding: 1,
        height: 5,
        width: 5,
    };
    let x = random_vec(&mut rng, g.input_len(), 1.0);
    let y = conv2d_reference(&g, &x, &conv1.weight.as_vec(), &conv1.bias.as_vec());
    let bn = &conv1.bn;
    let stats = (
        &bn.weight.as_vec()[..],
        &bn.bias.as_vec()[..],
        &bn.running_mean.as_vec()[..],
        &bn.running_var.as_vec()[..],
    );
    let normalised =
        batchnorm_eval_reference(&y, O, 25, (stats.0, stats.1, stats.2, stats.3, bn.epsilon as f32));
    for (c, channel) in normalised.chunks(25).enumerate() {
        let zero = channel.iter().all(|&v| v == 0.0);
        assert_eq!(zero, ZEROED.contains(&c), "channel {c}");
    }
}
