//! ONNX export (issue 21, "Out"): every exported file runs in tract, a second runtime, and agrees
//! with our plans: fp32 within 1e-4 of the largest logit, int8 within one quantization step per
//! logit and with the same argmax. Bad paths are typed errors that leave no file behind.

#![cfg(not(fasterai_lean_tests))] // tract runs the exported files (a dev-dependency left out then)

#[macro_use]
mod support;
#[path = "support/tract.rs"]
mod tract;

use fasterai::deploy::onnx::{OnnxModel, OPSET};
use fasterai::deploy::{accelerate, quantize_static, DeployError, Int8Model, QuantizeOptions};
use fasterai::model::ShapeInfo;
use fasterai::quant::ActivationQParams;
use fasterai::prelude::*;
use support::deploy::{argmax, max_abs, normal_weights, random_images, with_random_batch_norms};
use support::models::{SmallDigitsNet, SmallVgg};
use support::resnet::{DigitsResNet, ResNet18};
use tract::TractPlan;

/// Every op of the plans: conv (+BN, +ReLU, strided, padded, pointwise, unbiased), a lone ReLU,
/// max and padded average pooling, an adaptive pooling whose bins overlap (3×3 from 4×4), linear
/// (+BN1D, +ReLU) and the final float linear.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [2, 10, 10])]
pub struct Zoo {
    conv1: Conv2D<2, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU, pool1: MaxPool2D<2, 2>,
    conv2: UnbiasedConv2D<8, 12, 3, 2, 1>, pool2: AvgPool2D<2, 1, 1>, relu2: ReLU,
    conv3: Conv2D<12, 16, 1, 1, 0>, relu3: ReLU, pool3: AdaptiveAvgPool2D<3, 3>,
    flatten: Flatten,
    fc1: Linear<144, 32>, bn4: BatchNorm1D<32>, relu4: ReLU,
    fc2: Linear<32, 10>,
}

/// A digits-sized net ending in a global pooling (its int8 logits are dequantized `u8`).
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct GlobalHead {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU,
    conv2: Conv2D<8, 10, 3, 1, 1>,
    global: GlobalAvgPool,
}

/// VGG16-BN in miniature at 3×32×32: conv-BN-ReLU stages with max pooling down to 4×4, the
/// enlarging adaptive pooling to 7×7 (folded into `fc1` by the plans), two ReLU + Dropout linears.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [3, 32, 32])]
pub struct TinyVggBn {
    conv1: Conv2D<3, 8, 3, 1, 1>,   bn1: BatchNorm2D<8>,  relu1: ReLU,
    conv2: Conv2D<8, 8, 3, 1, 1>,   bn2: BatchNorm2D<8>,  relu2: ReLU, pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<8, 16, 3, 1, 1>,  bn3: BatchNorm2D<16>, relu3: ReLU, pool2: MaxPool2D<2, 2>,
    conv4: Conv2D<16, 16, 3, 1, 1>, bn4: BatchNorm2D<16>, relu4: ReLU, pool3: MaxPool2D<2, 2>,
    avgpool: AdaptiveAvgPool2D<7, 7>,
    flatten: Flatten,
    fc1: Linear<784, 32>, relu_fc1: ReLU, drop1: Dropout,
    fc2: Linear<32, 32>,  relu_fc2: ReLU, drop2: Dropout,
    fc3: Linear<32, 10>,
}

fn dims(shape: ShapeInfo) -> Vec<usize> {
    match shape {
        ShapeInfo::Chw { c, h, w } => vec![c, h, w],
        ShapeInfo::Flat { n } => vec![n],
    }
}

fn random_model<M>(seed: u64) -> M
where
    M: Compressible + TensorCollection<f32, Cpu> + BuildOnDevice<Cpu, f32, Built = M>,
{
    let mut model: M = with_random_batch_norms(&Cpu::default(), seed);
    normal_weights(&mut model, seed + 100);
    model
}

/// The operators a file may use: the default domain's, nothing custom.
const STANDARD: &[&str] = &[
    "Add", "AveragePool", "Cast", "Conv", "DequantizeLinear", "Div", "Flatten", "Gemm", "GlobalAveragePool", "Identity",
    "MatMul", "MatMulInteger", "Max", "MaxPool", "Mul", "QLinearConv", "QuantizeLinear", "Relu", "Reshape",
];

fn assert_standard(onnx: &OnnxModel) {
    let proto = onnx.proto();
    assert_eq!(proto.opset_import.len(), 1);
    assert_eq!((proto.opset_import[0].domain.as_str(), proto.opset_import[0].version), ("", OPSET));
    assert!(OPSET >= 13);
    let graph = proto.graph.as_ref().unwrap();
    assert!(graph.node.iter().all(|n| n.domain.is_empty()), "a node outside the default domain");
    for op in onnx.operators() {
        assert!(STANDARD.contains(&op), "unexpected operator {op}");
    }
}

/// The fp32 file of `model` in tract gives the fp32 plan's logits on `images`, within 1e-4 of the
/// largest logit; returns the worst gap in those units.
fn check_fp32<M>(model: &M, images: &[f32]) -> f32
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let onnx = OnnxModel::fp32(model).unwrap();
    assert_standard(&onnx);
    assert!(!onnx.operators().iter().any(|op| op.contains("Quant") || op.contains("Integer")));
    let mut plan = accelerate(model).unwrap();
    let mut peer = TractPlan::new(&onnx.to_bytes(), &dims(M::INPUT)).unwrap();
    let mut worst = 0.0f32;
    for image in images.chunks_exact(M::INPUT.numel()) {
        let ours = plan.run(image).unwrap().to_vec();
        let theirs = peer.run(image).unwrap();
        assert_eq!(ours.len(), theirs.len());
        let scale = max_abs(&ours);
        assert!(scale > 0.0, "degenerate logits {ours:?}");
        for (a, b) in ours.iter().zip(&theirs) {
            let gap = (a - b).abs() / scale;
            assert!(gap <= 1e-4, "{} fp32: ours {ours:?}, tract {theirs:?}", std::any::type_name::<M>());
            worst = worst.max(gap);
        }
    }
    eprintln!("{} fp32: worst gap {worst:.2e} of the largest logit", std::any::type_name::<M>());
    worst
}

/// One quantization step of the logits of `int8`, given its `logits` on the calibration images: the
/// step of their `u8` grid when the plan ends in one, else the step of the grid that calibration
/// would put on them (`ActivationQParams::from_range` over their range: the rule of every other
/// activation of the plan; ONNX Runtime's QDQ quantizer puts such a grid on a model's output).
/// Both runtimes compute the same integers up to the rounding of each requantization (ours rounds
/// the exact product `acc · M`, theirs `f32(acc) · M` rounded to `f32` first, the same `M`), so a
/// value within an `f32` ulp of a tie could come out one step apart in a layer and move the
/// logits a little, never a step.
fn logit_step<M>(int8: &Int8Model<M>, logits: &[f32]) -> f32 {
    let last = int8.layers().last().unwrap();
    match last.output {
        Some(grid) => grid.scale.get(),
        None => {
            let (lo, hi) = logits.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            ActivationQParams::from_range(lo, hi).unwrap().scale.get()
        }
    }
}

/// How the int8 file fared in tract against the int8 plan.
#[derive(Debug, Default)]
struct Int8Agreement {
    images: usize,
    /// Logits bit for bit equal.
    identical_logits: usize,
    logits: usize,
    /// The largest gap, in logit steps ([`logit_step`]).
    worst_steps: f32,
    /// The largest gap, in steps of the final layer's accumulator (`s_in·s_w[o]`, float logits only).
    worst_accumulator_steps: f32,
}

/// The int8 file of `int8` (calibrated on `calibration`) in tract on `images`: every logit within
/// `steps` steps of the plan's ([`logit_step`]), the same argmax.
fn check_int8_within<M: Compressible>(int8: &mut Int8Model<M>, calibration: &[f32], images: &[f32], steps: f32) -> Int8Agreement {
    let onnx = OnnxModel::int8(int8).unwrap();
    assert_standard(&onnx);
    assert!(onnx.operators().contains(&"QuantizeLinear"));
    let n = calibration.len() / M::INPUT.numel();
    let calibration_logits = int8.predict(calibration, n).unwrap();
    let step = logit_step(int8, &calibration_logits);
    let last = int8.layers().last().unwrap();
    let accumulator_steps: Vec<f32> = match (last.output, &last.weights) {
        (None, Some(w)) => w.scales.iter().map(|s| last.input.scale.get() * s.get()).collect(),
        _ => vec![f32::INFINITY; int8.output_len()],
    };
    let mut peer = TractPlan::new(&onnx.to_bytes(), &dims(M::INPUT)).unwrap();
    let mut agreement = Int8Agreement::default();
    for image in images.chunks_exact(M::INPUT.numel()) {
        let ours = int8.run(image).unwrap().to_vec();
        let theirs = peer.run(image).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for ((a, b), acc_step) in ours.iter().zip(&theirs).zip(&accumulator_steps) {
            let gap = (a - b).abs() / step;
            assert!(gap <= steps, "{} int8: {gap} steps of {step} apart; ours {ours:?}, tract {theirs:?}", std::any::type_name::<M>());
            agreement.worst_steps = agreement.worst_steps.max(gap);
            agreement.worst_accumulator_steps = agreement.worst_accumulator_steps.max((a - b).abs() / acc_step);
            agreement.identical_logits += usize::from(a == b);
        }
        agreement.logits += ours.len();
        assert_eq!(argmax(&ours), argmax(&theirs), "{} int8: ours {ours:?}, tract {theirs:?}", std::any::type_name::<M>());
        agreement.images += 1;
    }
    eprintln!("{}: {agreement:?}", std::any::type_name::<M>());
    agreement
}

/// [`check_int8_within`] one step.
fn check_int8<M: Compressible>(int8: &mut Int8Model<M>, calibration: &[f32], images: &[f32]) -> Int8Agreement {
    check_int8_within(int8, calibration, images, 1.0)
}

fn int8_of<M>(model: &M, calibration: &[f32]) -> Int8Model<M>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let n = calibration.len() / M::INPUT.numel();
    quantize_static(model, calibration, n, QuantizeOptions::default()).unwrap()
}

#[test]
fn small_vgg_runs_in_tract_as_in_our_plans() {
    let model: SmallVgg = random_model(1);
    check_fp32(&model, &random_images(3, 784, 2, true));
    let calibration = random_images(16, 784, 3, true);
    check_int8(&mut int8_of(&model, &calibration), &calibration, &random_images(8, 784, 4, true));
}

#[test]
fn every_op_of_the_plans_runs_in_tract() {
    let model: Zoo = random_model(5);
    check_fp32(&model, &random_images(4, 200, 6, false));
    let calibration = random_images(32, 200, 7, false);
    check_int8(&mut int8_of(&model, &calibration), &calibration, &random_images(16, 200, 8, false));
    let head: GlobalHead = random_model(9);
    check_fp32(&head, &random_images(4, 64, 10, true));
    let calibration = random_images(16, 64, 11, true);
    check_int8(&mut int8_of(&head, &calibration), &calibration, &random_images(16, 64, 12, true));
}

#[test]
fn a_tiny_vgg_bn_runs_in_tract_with_its_enlarging_pool_folded() {
    let model: TinyVggBn = random_model(13);
    let onnx = OnnxModel::fp32(&model).unwrap();
    // fc1 reads the 4×4 map: the plans' folded 7×7 pooling is in its weights, not in the graph.
    assert!(!onnx.operators().contains(&"AveragePool") && !onnx.operators().contains(&"MatMul"), "{:?}", onnx.operators());
    check_fp32(&model, &random_images(3, 3 * 32 * 32, 14, false));
    let calibration = random_images(16, 3 * 32 * 32, 15, false);
    check_int8(&mut int8_of(&model, &calibration), &calibration, &random_images(8, 3 * 32 * 32, 16, false));
}

#[test]
fn trained_digits_models_keep_their_predictions_in_tract() {
    let data = support::digits::data();
    let valid = &data.valid;
    let images: Vec<f32> = (0..valid.len()).flat_map(|i| valid.image(i).iter().copied()).collect();
    let calibration: Vec<f32> = (0..128).flat_map(|i| data.train.image(i).iter().copied()).collect();

    let net: SmallDigitsNet = support::digits::trained(1, 3);
    check_fp32(&net, &images);
    let agreement = check_int8(&mut int8_of(&net, &calibration), &calibration, &images);
    assert_eq!(agreement.images, valid.len());
    assert!(agreement.worst_steps < 1e-3, "the same integers in every layer: {agreement:?}");

    let resnet: DigitsResNet = support::digits::trained(4, 3);
    assert!(OnnxModel::fp32(&resnet).unwrap().operators().contains(&"Add"));
    check_fp32(&resnet, &images);
    // Every requantization rounds once, half to even, as the file's operators do: the conv and
    // linear stages the exact product `acc · M` (`FixedPointMultiplier::apply`, with the `f32`
    // multiplier `(s_in·s_w)/s_out` that tract and ONNX Runtime compute from the scales), the
    // residual adds their exact sum. The runtimes round `f32(acc)·M` instead, which can differ
    // only within an `f32` ulp of a tie; on these 64 images the two give the same integers in
    // every layer, and the logits differ by the float rounding of the last layer alone
    // (1.2e-5 steps at worst; 1.90 when the conv requantization rounded twice).
    let agreement = check_int8(&mut int8_of(&resnet, &calibration), &calibration, &images);
    assert!(agreement.worst_steps < 1e-3, "{agreement:?}");
    assert_eq!(agreement.images, valid.len());
}

#[test]
fn resnet18_runs_in_tract_as_in_our_fp32_plan() {
    let model: ResNet18 = random_model(17);
    let onnx = OnnxModel::fp32(&model).unwrap();
    let graph = onnx.proto().graph.as_ref().unwrap();
    let count = |op: &str| graph.node.iter().filter(|n| n.op_type == op).count();
    assert_eq!((count("Conv"), count("Add"), count("Gemm")), (20, 8, 1));
    check_fp32(&model, &random_images(1, 3 * 224 * 224, 18, false));
}

#[test]
fn a_file_reads_back_as_the_model_written() {
    use fasterai::deploy::onnx::proto::ModelProto;
    use prost::Message;
    let model: GlobalHead = random_model(19);
    let onnx = OnnxModel::fp32(&model).unwrap();
    let decoded = ModelProto::decode(onnx.to_bytes().as_slice()).unwrap();
    assert_eq!(&decoded, onnx.proto());
    let graph = decoded.graph.unwrap();
    assert_eq!((graph.input[0].name.as_str(), graph.output[0].name.as_str()), ("input", "logits"));
    assert_eq!(decoded.producer_name, "fasterai-rs");
}

/// A fresh empty directory under the system temp dir.
fn scratch(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fasterai-onnx-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect()
}

#[test]
fn an_export_into_a_missing_directory_is_an_error_and_writes_nothing() {
    let dir = scratch("missing");
    let model: GlobalHead = random_model(20);
    let target = dir.join("no-such-dir").join("model.onnx");
    let error = OnnxModel::fp32(&model).unwrap().save(&target).unwrap_err();
    assert!(matches!(&error, DeployError::NoDirectory { dir: d, .. } if d == &dir.join("no-such-dir")), "{error}");
    assert!(error.to_string().contains("does not exist; create it first"), "{error}");
    let int8 = int8_of(&model, &random_images(4, 64, 21, true));
    assert!(matches!(int8.export_onnx(&target), Err(DeployError::NoDirectory { .. })));
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));

    // A path that is a directory: the write fails, and no temporary file is left beside it.
    std::fs::create_dir(dir.join("taken.onnx")).unwrap();
    let error = int8.export_onnx(dir.join("taken.onnx")).unwrap_err();
    assert!(matches!(error, DeployError::Io { action: "write", .. }), "{error}");
    assert_eq!(entries(&dir), vec![std::ffi::OsString::from("taken.onnx")]);

    // And a good path gets the whole file, the size reported.
    let size = int8.export_onnx(dir.join("head.onnx")).unwrap();
    assert_eq!(size.0, std::fs::metadata(dir.join("head.onnx")).unwrap().len());
    assert_eq!(std::fs::read(dir.join("head.onnx")).unwrap(), OnnxModel::int8(&int8).unwrap().to_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}
