//! `accelerate` on derived models: the fp32 plan equals the dfdx eval forward (BatchNorms folded,
//! ReLUs fused, every pooling kind), and layers it cannot run are errors naming them.

#[macro_use]
mod support;

use support::deploy::{max_abs, max_abs_diff, random_images, with_random_batch_norms};
use fasterai::deploy::{accelerate, DeployError};
use fasterai::dfdx::nn::modules::Tanh;
use fasterai::dfdx::prelude::{Const, DeviceBuildExt, TensorFromVec};
use fasterai::prelude::*;
use support::models::SmallVgg;

/// A digits-sized net: unbiased conv, BatchNorm1D after a linear, dropout, a factorized pair.
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsNet {
    conv1: Conv2D<1, 16, 3, 1, 1>, bn1: BatchNorm2D<16>, relu1: ReLU, pool1: MaxPool2D<2, 2>,
    conv2: UnbiasedConv2D<16, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU,
    flatten: Flatten,
    fc1_in: UnbiasedLinear<512, 24>,
    fc1_out: Linear<24, 64>, bn3: BatchNorm1D<64>, relu3: ReLU, drop: Dropout,
    fc2: Linear<64, 10>,
}

/// Every pooling kind, a strided conv, a pointwise conv, a lone ReLU after a pooling.
#[derive(Compressible, Clone)]
#[compressible(input = [3, 12, 12])]
pub struct PoolZoo {
    conv1: Conv2D<3, 8, 3, 2, 1>, pool1: AvgPool2D<3, 1, 1>, relu1: ReLU,
    conv2: UnbiasedConv2D<8, 8, 1, 1, 0>, bn2: BatchNorm2D<8>, pool2: AdaptiveAvgPool2D<4, 4>,
    conv3: Conv2D<8, 12, 3, 1, 1>, relu3: ReLU, pool3: MaxPool2D<3, 2, 1>,
    global: GlobalAvgPool,
    fc: Linear<12, 5>,
}

/// VGG's head in small: an adaptive pooling that enlarges 3×3 maps to 7×7 before the first Linear
/// (folded into it by the plan), and one that shrinks (kept).
#[derive(Compressible, Clone)]
#[compressible(input = [3, 6, 6])]
pub struct EnlargingHead {
    conv1: Conv2D<3, 8, 3, 1, 1>, relu1: ReLU, pool1: MaxPool2D<2, 2>, wide: AdaptiveAvgPool2D<7, 7>,
    flatten: Flatten, drop: Dropout,
    fc1: Linear<392, 16>, bn1: BatchNorm1D<16>, relu2: ReLU,
    fc2: Linear<16, 5>,
}

/// A wide 3×3 conv (128 input channels): the plan runs it by Winograd's algorithm.
#[derive(Compressible, Clone)]
#[compressible(input = [128, 5, 6])]
pub struct WideConv {
    conv1: UnbiasedConv2D<128, 9, 3, 1, 1>, bn1: BatchNorm2D<9>, relu1: ReLU,
    flatten: Flatten,
    fc: Linear<270, 4>,
}

/// An MLP on a flat input.
#[derive(Compressible, Clone)]
#[compressible(input = [12])]
pub struct Mlp {
    fc1: Linear<12, 8>, bn1: BatchNorm1D<8>, relu1: ReLU, drop1: Dropout,
    fc2: UnbiasedLinear<8, 3>,
}

/// The plan's outputs equal the dfdx forward (eval mode, no tape) within 1e-4 of the largest logit.
fn check_against_dfdx<M, const C: usize, const H: usize, const W: usize>(model: &M, batch: usize, seed: u64)
where
    M: Compressible + TensorCollection<f32, Cpu> + Module<Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu>>,
    M::Output: AsVec,
{
    let dev = Cpu::default();
    let images = random_images(batch, C * H * W, seed, false);
    let expected = model.forward(dev.tensor_from_vec(images.clone(), (batch, Const, Const, Const))).to_flat_vec();
    let mut plan = accelerate(model).unwrap();
    let got = plan.predict(&images, batch).unwrap();
    let scale = max_abs(&expected);
    assert!(scale > 1e-3, "degenerate logits {expected:?}");
    let err = max_abs_diff(&got, &expected);
    assert!(err <= 1e-4 * scale, "max error {err} vs largest logit {scale}");
    // One image at a time gives the same numbers, and the buffers are reused without stale data.
    let per = plan.output_len();
    for (i, image) in images.chunks(C * H * W).enumerate().rev() {
        assert_eq!(plan.run(image).unwrap(), &got[i * per..(i + 1) * per]);
    }
}

/// One random image (from `seed`) with a NaN at `pixel` gives NaN logits in `model`'s forward and
/// in its plan alike.
fn check_nan_pixel<M, const C: usize, const H: usize, const W: usize>(model: &M, seed: u64, pixel: usize)
where
    M: Compressible + TensorCollection<f32, Cpu> + Module<Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu>>,
    M::Output: AsVec,
{
    let dev = Cpu::default();
    let mut image = random_images(1, C * H * W, seed, false);
    image[pixel] = f32::NAN;
    let expected = model.forward(dev.tensor_from_vec(image.clone(), (1, Const, Const, Const))).to_flat_vec();
    let got = accelerate(model).unwrap().run(&image).unwrap().to_vec();
    assert!(expected.iter().all(|v| v.is_nan()), "model: {expected:?}");
    assert!(got.iter().all(|v| v.is_nan()), "plan: {got:?}");
}

/// Flattening any dfdx tensor output to a `Vec<f32>`.
trait AsVec {
    fn to_flat_vec(&self) -> Vec<f32>;
}

impl<S: fasterai::dfdx::shapes::Shape> AsVec for Tensor<S, f32, Cpu> {
    fn to_flat_vec(&self) -> Vec<f32> {
        self.as_vec()
    }
}

#[test]
fn small_vgg_plan_equals_the_eval_forward() {
    let model = with_random_batch_norms::<SmallVgg>(&Cpu::default(), 1);
    check_against_dfdx::<_, 1, 28, 28>(&model, 3, 10);
    let plan = accelerate(&model).unwrap();
    // Folding leaves the conv and linear weights and biases: each BatchNorm's γ and β are gone.
    let batch_norm_params = 2 * (32 + 32 + 64 + 64);
    assert_eq!(plan.parameters(), SmallVgg::num_params() - batch_norm_params);
    assert_eq!(plan.size_bytes().0, 4 * plan.parameters() as u64);
}

#[test]
fn small_vgg_bands_equal_the_layer_by_layer_run_bit_for_bit() {
    let model = with_random_batch_norms::<SmallVgg>(&Cpu::default(), 3);
    let mut plan = accelerate(&model).unwrap();
    if fasterai::internals::kernels::team::Team::global().threads() == 2 {
        // conv1 → conv2 → pool1; conv3 → conv4 (pool2's 7 rows would split unevenly); pool2.
        assert_eq!(plan.banded_layers(), [0..3, 3..5, 5..6]);
    }
    for image in random_images(3, 784, 4, true).chunks(784) {
        plan.set_bands(true);
        let banded = plan.run(image).unwrap().to_vec();
        plan.set_bands(false);
        assert!(plan.banded_layers().is_empty());
        assert_eq!(plan.run(image).unwrap(), banded.as_slice());
    }
}

#[test]
fn digits_net_plan_equals_the_eval_forward() {
    let model = with_random_batch_norms::<DigitsNet>(&Cpu::default(), 2);
    check_against_dfdx::<_, 1, 8, 8>(&model, 5, 11);
}

#[test]
fn every_pooling_kind_equals_the_eval_forward() {
    let model = with_random_batch_norms::<PoolZoo>(&Cpu::default(), 3);
    check_against_dfdx::<_, 3, 12, 12>(&model, 4, 12);
}

#[test]
fn an_enlarging_adaptive_pool_folds_into_the_next_linear() {
    let model = with_random_batch_norms::<EnlargingHead>(&Cpu::default(), 4);
    check_against_dfdx::<_, 3, 6, 6>(&model, 3, 13);
    // fc1 reads the 8×3×3 map: 16 × 72 weights instead of 16 × 392.
    let plan = accelerate(&model).unwrap();
    let conv = 8 * 27 + 8;
    assert_eq!(plan.parameters(), conv + 16 * 72 + 16 + 16 * 5 + 5);
}

#[test]
fn a_winograd_conv_equals_the_eval_forward() {
    let model = with_random_batch_norms::<WideConv>(&Cpu::default(), 5);
    check_against_dfdx::<_, 128, 5, 6>(&model, 2, 14);
}

#[test]
fn flat_input_mlp_equals_the_eval_forward() {
    let dev = Cpu::default();
    let model = with_random_batch_norms::<Mlp>(&dev, 4);
    let images = random_images(6, 12, 13, false);
    let expected = model.forward(dev.tensor_from_vec(images.clone(), (6, Const::<12>))).as_vec();
    let got = accelerate(&model).unwrap().predict(&images, 6).unwrap();
    assert!(max_abs_diff(&got, &expected) <= 1e-4 * max_abs(&expected), "{got:?} vs {expected:?}");
}

#[test]
fn wrong_input_length_is_an_error() {
    let dev = Cpu::default();
    let mut plan = accelerate(&dev.build_module::<DigitsNet, f32>()).unwrap();
    assert!(matches!(plan.run(&[0.0; 63]), Err(DeployError::InputLength { expected: 64, found: 63, .. })));
    assert!(matches!(plan.predict(&[0.0; 130], 2), Err(DeployError::BatchLength { images: 2, per_image: 64, found: 130, .. })));
}

#[derive(Compressible, Clone)]
#[compressible(input = [4])]
pub struct WithTanh {
    fc1: Linear<4, 4>, act: Tanh,
    fc2: Linear<4, 2>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [1, 6, 6])]
pub struct NormAfterRelu {
    conv: Conv2D<1, 2, 3, 1, 1>, relu: ReLU, bn: BatchNorm2D<2>,
    flatten: Flatten,
    fc: Linear<72, 2>,
}

#[test]
fn unsupported_layers_are_errors_naming_them() {
    let dev = Cpu::default();
    let error = accelerate(&dev.build_module::<WithTanh, f32>()).unwrap_err();
    assert!(matches!(error, DeployError::UnsupportedLayer { layer: "act", .. }), "{error}");
    assert!(error.to_string().contains("`act`") && error.to_string().contains("Tanh"), "{error}");

    let error = accelerate(&dev.build_module::<NormAfterRelu, f32>()).unwrap_err();
    assert!(matches!(error, DeployError::UnfoldableBatchNorm { layer: "bn", expected: "Conv2D", .. }), "{error}");
    assert!(error.to_string().contains("`relu`"), "{error}");
}

/// A NaN pixel gives NaN logits in the model's forward and in the plan alike: ReLU keeps NaN (as
/// PyTorch does) in the layer, the fused batch norm + ReLU and the plan's convolutions and linear
/// layers, so a bad input is never turned into a confident answer.
#[test]
fn a_nan_pixel_gives_nan_logits_in_the_model_and_the_plan() {
    let dev = Cpu::default();
    let vgg = with_random_batch_norms::<SmallVgg>(&dev, 6);
    check_nan_pixel::<_, 1, 28, 28>(&vgg, 15, 14 * 28 + 14);
    let digits = with_random_batch_norms::<DigitsNet>(&dev, 7);
    check_nan_pixel::<_, 1, 8, 8>(&digits, 16, 27);
}
