//! Static int8 quantization of derived models: the int8 plan equals a plain integer reference of the
//! same arithmetic exactly, its logits stay close to fp32, and the safetensors round trip is exact.

#[macro_use]
mod support;

use support::deploy::{argmax, max_abs, random_images, with_random_batch_norms};
use support::int8_reference::integer_reference;
use fasterai::deploy::{accelerate, quantize_dynamic, Accelerated, quantize_static, DeployError, Int8Model, ObserverKind, QuantizeOptions};
use fasterai::prelude::*;
use support::models::SmallVgg;

/// Every op the int8 plan runs: conv (+BN, +ReLU, strided, padded, pointwise), a lone ReLU, max,
/// average, adaptive and global pooling, linear (+BN1D, +ReLU) and the final float linear.
#[derive(Compressible, Clone)]
#[compressible(input = [2, 10, 10])]
pub struct Zoo {
    conv1: Conv2D<2, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU, pool1: MaxPool2D<2, 2>,
    conv2: UnbiasedConv2D<8, 12, 3, 2, 1>, pool2: AvgPool2D<2, 1, 1>, relu2: ReLU,
    conv3: Conv2D<12, 16, 1, 1, 0>, relu3: ReLU, pool3: AdaptiveAvgPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<64, 32>, bn4: BatchNorm1D<32>, relu4: ReLU,
    fc2: Linear<32, 10>,
}

/// A digits-sized net ending in a global pooling (so the logits are dequantized `u8`).
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct GlobalHead {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU,
    conv2: Conv2D<8, 10, 3, 1, 1>,
    global: GlobalAvgPool,
}

fn model<M>(seed: u64) -> M
where
    M: Compressible + TensorCollection<f32, Cpu> + fasterai::dfdx::nn::BuildOnDevice<Cpu, f32, Built = M>,
{
    with_random_batch_norms(&Cpu::default(), seed)
}

#[test]
fn int8_plan_equals_the_integer_reference_exactly() {
    let zoo: Zoo = model(1);
    let len = 2 * 10 * 10;
    let calibration = random_images(16, len, 2, false);
    for observer in [ObserverKind::MinMax, ObserverKind::Percentile(99.0), ObserverKind::Mse] {
        let mut int8 = quantize_static(&zoo, &calibration, 16, QuantizeOptions::default().observer(observer)).unwrap();
        let mut outputs = Vec::new();
        for image in random_images(8, len, 3, false).chunks(len) {
            let want = integer_reference(&int8, image);
            assert_eq!(int8.run(image).unwrap(), want.as_slice(), "observer {observer:?}");
            outputs.push(want);
        }
        // Not a degenerate agreement: the logits differ between images and are not all zero.
        assert!(outputs.iter().any(|o| o != &outputs[0]) && max_abs(&outputs[0]) > 0.0, "{outputs:?}");
    }
    // SmallVgg: on a CPU with AMX its convs run as bands (each thread through conv → conv → pool
    // on its own rows), elsewhere layer by layer; the integers are the same either way.
    let vgg: SmallVgg = model(11);
    let mut int8 = quantize_static(&vgg, &random_images(8, 784, 12, true), 8, QuantizeOptions::default()).unwrap();
    for image in random_images(3, 784, 13, true).chunks(784) {
        let want = integer_reference(&int8, image);
        int8.set_bands(true);
        assert_eq!(int8.run(image).unwrap(), want.as_slice(), "SmallVgg, bands");
        int8.set_bands(false);
        assert_eq!(int8.run(image).unwrap(), want.as_slice(), "SmallVgg, layer by layer");
    }
    let head: GlobalHead = model(4);
    let mut int8 = quantize_static(&head, &random_images(8, 64, 5, true), 8, QuantizeOptions::default()).unwrap();
    for image in random_images(8, 64, 6, true).chunks(64) {
        let want = integer_reference(&int8, image);
        assert_eq!(int8.run(image).unwrap(), want.as_slice());
    }
}

/// On `n` random SmallVgg images (seeded by `seed`), how often `quantized`'s logits have the argmax
/// of the fp32 plan's; each of them stays within `tolerance` × the largest fp32 logit.
fn agreement(
    fp32: &mut Accelerated<SmallVgg>,
    mut quantized: impl FnMut(&[f32]) -> Vec<f32>,
    n: usize,
    seed: u64,
    tolerance: f32,
    what: &str,
) -> usize {
    let len = 28 * 28;
    let mut agree = 0;
    for image in random_images(n, len, seed, true).chunks(len) {
        let reference = fp32.run(image).unwrap().to_vec();
        let quantized = quantized(image);
        agree += usize::from(argmax(&reference) == argmax(&quantized));
        let err = support::deploy::max_abs_diff(&reference, &quantized);
        assert!(err <= tolerance * max_abs(&reference), "{what} error {err} vs fp32 logits {reference:?}");
    }
    agree
}

/// The same plan packed for every int8 kernel table of this CPU (under `FASTERAI_MAX_ISA`) gives
/// the integer reference exactly: with dfdx's uniform weights, which the AVX2 `vpmaddubsw` table
/// runs on its `i16`-pair fallback, and with bell-shaped ones, which it packs split.
#[test]
fn every_int8_kernel_table_gives_the_integer_reference() {
    use fasterai::internals::kernels::int8::Int8Kernels;
    for (law, seed) in [("uniform", 21), ("normal", 22)] {
        let mut vgg: SmallVgg = model(seed);
        if law == "normal" {
            support::deploy::normal_weights(&mut vgg, seed);
        }
        let int8 = quantize_static(&vgg, &random_images(8, 784, seed + 1, true), 8, QuantizeOptions::default()).unwrap();
        let images = random_images(2, 784, seed + 2, true);
        let wants: Vec<Vec<f32>> = images.chunks(784).map(|image| integer_reference(&int8, image)).collect();
        for kernels in Int8Kernels::available() {
            if kernels.saturating.is_some() {
                // Which way the layers' weights go: some split when bell-shaped (the deep ones),
                // none when uniform.
                let split: Vec<bool> = int8
                    .layers()
                    .iter()
                    .filter_map(|l| l.weights.as_ref())
                    .map(|w| kernels.pack_weights(&w.values, w.out_channels, w.fan_in).unwrap().is_split())
                    .collect();
                assert_eq!(split.iter().any(|&s| s), law == "normal", "{} {law}: {split:?}", kernels.name);
            }
            let mut plan = int8.with_kernels(kernels).unwrap();
            assert_eq!(plan.kernels_name(), kernels.name);
            for (image, want) in images.chunks(784).zip(&wants) {
                assert_eq!(plan.run(image).unwrap(), want.as_slice(), "{} on {law} weights", kernels.name);
            }
        }
    }
}

#[test]
fn int8_logits_follow_the_fp32_logits() {
    let vgg: SmallVgg = model(7);
    let len = 28 * 28;
    let mut int8 = quantize_static(&vgg, &random_images(32, len, 8, true), 32, QuantizeOptions::default()).unwrap();
    let mut fp32 = accelerate(&vgg).unwrap();
    let n = 100;
    let agree = agreement(&mut fp32, |image| int8.run(image).unwrap().to_vec(), n, 9, 0.1, "int8");
    eprintln!("SmallVgg int8 vs fp32 argmax agreement: {agree}/{n}");
    assert!(agree * 100 >= 90 * n, "argmax agreement {agree}/{n}");
}

#[test]
fn dynamic_linear_quantization_follows_fp32_and_shrinks_the_linear_layers() {
    let vgg: SmallVgg = model(15);
    let mut dynamic = quantize_dynamic(&vgg).unwrap();
    let mut fp32 = accelerate(&vgg).unwrap();
    let n = 50;
    let agree = agreement(&mut fp32, |image| dynamic.run(image).unwrap().to_vec(), n, 16, 0.05, "dynamic");
    assert!(agree * 100 >= 90 * n, "argmax agreement {agree}/{n}");
    // Same parameters; fc1 and fc2 now hold one byte per weight instead of four.
    assert_eq!(dynamic.parameters(), fp32.parameters());
    let linear_weights = (3136 * 256 + 256 * 10) as u64;
    assert_eq!(fp32.size_bytes().0 - dynamic.size_bytes().0, 3 * linear_weights - 4 * (256 + 10));
}

#[test]
fn save_load_is_bit_identical_and_a_quarter_of_fp32() {
    let vgg: SmallVgg = model(10);
    let len = 28 * 28;
    let mut int8 = quantize_static(&vgg, &random_images(32, len, 11, true), 32, QuantizeOptions::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("fasterai-deploy-int8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("small_vgg.int8.safetensors");
    int8.save(&path).unwrap();
    let mut loaded = Int8Model::<SmallVgg>::load(&path).unwrap();
    for image in random_images(4, len, 12, true).chunks(len) {
        let a = int8.run(image).unwrap().to_vec();
        let b = loaded.run(image).unwrap();
        assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
    let file = std::fs::metadata(&path).unwrap().len();
    assert_eq!(int8.size_bytes().unwrap().0, file);
    let fp32 = model_size(&vgg).unwrap().0;
    let ratio = file as f64 / fp32 as f64;
    eprintln!("SmallVgg int8 file {file} B, fp32 safetensors {fp32} B, ratio {ratio:.3}");
    assert!(ratio < 0.3, "int8 file {file} B vs fp32 {fp32} B: ratio {ratio}");

    // Loading as another model type names the first tensor that does not fit.
    let error = Int8Model::<Zoo>::load(&path).unwrap_err();
    assert!(matches!(&error, DeployError::FileTensor { name, .. } if name == "conv1.weight"), "{error}");
    let error = Int8Model::<SmallVgg>::load(dir.join("missing.safetensors")).unwrap_err();
    assert!(matches!(error, DeployError::Io { action: "read", .. }), "{error}");

    // A truncated file and a garbage file are described in words, naming the path.
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.join("truncated.int8.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let message = Int8Model::<SmallVgg>::load(&truncated).unwrap_err().to_string();
    let wanted = format!(
        "it is truncated: its header says the file is {} bytes long, but it holds {} bytes; check the path, or \
         save the model again with Int8Model::save",
        bytes.len(),
        bytes.len() / 2
    );
    assert!(message.contains(&wanted) && message.contains("truncated.int8.safetensors"), "{message}");
    let garbage = dir.join("garbage.int8.safetensors");
    std::fs::write(&garbage, [0x50, 0x4b, 3, 4, 20, 0, 0, 0, 8, 0, 1, 2]).unwrap();
    let message = Int8Model::<SmallVgg>::load(&garbage).unwrap_err().to_string();
    assert!(message.contains("is not a safetensors file") && message.contains("zip archive"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn calibration_errors() {
    let zoo: Zoo = model(13);
    let opts = QuantizeOptions::default();
    assert!(matches!(quantize_static(&zoo, &[], 0, opts), Err(DeployError::EmptyCalibration)));
    let error = quantize_static(&zoo, &[0.0; 250], 1, opts).unwrap_err();
    assert!(matches!(error, DeployError::BatchLength { images: 1, per_image: 200, found: 250, .. }), "{error}");
    let error = quantize_static(&zoo, &[0.0; 200], 1, opts.observer(ObserverKind::Percentile(20.0))).unwrap_err();
    assert!(matches!(error, DeployError::Quant(_)), "{error}");
    let error = quantize_static(&model::<WithSigmoid>(14), &[0.5; 4], 1, opts).unwrap_err();
    assert!(matches!(error, DeployError::UnsupportedLayer { layer: "act", .. }), "{error}");
}

#[derive(Compressible, Clone)]
#[compressible(input = [4])]
pub struct WithSigmoid {
    fc1: Linear<4, 4>, act: fasterai::dfdx::nn::modules::Sigmoid,
    fc2: Linear<4, 2>,
}
