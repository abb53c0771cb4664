//! The `wanda` criterion with its calibration pass: the input norms read from the fp32 inference
//! plan against a hand computation, Wanda masks on a literal two-layer model, Wanda while training
//! on digits with `SparsifyCallback`, and the error when no calibration is given.

#[macro_use]
mod support;

use std::num::NonZeroUsize;

use fasterai::compress::sparsify::{
    input_norms, ActivationStat, Context as Ranking, ConvGranularity, Criteria, Criterion, Granularity, LayerChoice,
    SparsitySchedule, Sparsifier, SparsifyCallback,
};
use fasterai::compress::CompressError;
use fasterai::data::DataLoaders;
use fasterai::dfdx::shapes::Const;
use fasterai::learn::LrSchedule;
use fasterai::model::{read_tensor, write_tensors};
use fasterai::prelude::*;
use support::models::SmallDigitsNet;

#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 2, 2])]
pub struct Tiny {
    conv1: Conv2D<1, 2, 1, 1, 0>, bn1: BatchNorm2D<2>, relu1: ReLU,
    flatten: Flatten,
    fc1: Linear<8, 3>, relu2: ReLU,
    fc2: Linear<3, 2>,
}

const CONV_W: [f32; 2] = [1.0, -2.0];
const CONV_B: [f32; 2] = [0.5, 1.0];
const GAMMA: [f32; 2] = [2.0, 1.0];
const BETA: [f32; 2] = [0.0, -0.5];
const MEAN: [f32; 2] = [1.0, 0.0];
const VAR: [f32; 2] = [4.0, 1.0];
#[rustfmt::skip]
const FC1_W: [f32; 24] = [
    0.5, -1.0, 0.25, 0.0, 1.0, 0.5, -0.5, 2.0,
    -1.0, 0.5, 1.5, -0.25, 0.0, 1.0, 0.75, -0.5,
    0.25, 0.25, -0.75, 1.0, -1.5, 0.0, 0.5, 0.5,
];
const FC1_B: [f32; 3] = [0.1, -0.2, 0.3];
/// Two images of 1×2×2.
const IMAGES: [f32; 8] = [1.0, 2.0, -1.0, 0.0, 0.5, -3.0, 2.0, 1.0];

fn tiny() -> Tiny {
    let mut model = Cpu::default().build_module::<Tiny, f32>();
    write_tensors(
        &mut model,
        &[
            ("conv1.weight", &CONV_W),
            ("conv1.bias", &CONV_B),
            ("bn1.weight", &GAMMA),
            ("bn1.bias", &BETA),
            ("bn1.running_mean", &MEAN),
            ("bn1.running_var", &VAR),
            ("fc1.weight", &FC1_W),
            ("fc1.bias", &FC1_B),
        ],
    )
    .unwrap();
    model
}

/// What conv1, fc1 and fc2 receive for one image, written out from the layer formulas (BatchNorm on
/// its running statistics, epsilon 1e-5), in f64.
fn by_hand(image: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let conv_in: Vec<f64> = image.iter().map(|&x| f64::from(x)).collect();
    let mut fc1_in = Vec::new();
    for c in 0..2 {
        let (w, b) = (f64::from(CONV_W[c]), f64::from(CONV_B[c]));
        let (g, beta, m, v) = (f64::from(GAMMA[c]), f64::from(BETA[c]), f64::from(MEAN[c]), f64::from(VAR[c]));
        for &x in &conv_in {
            let bn = g * (w * x + b - m) / (v + 1e-5).sqrt() + beta;
            fc1_in.push(bn.max(0.0)); // channel-major after Flatten
        }
    }
    let fc2_in: Vec<f64> = (0..3)
        .map(|o| {
            let row = &FC1_W[o * 8..(o + 1) * 8];
            let y: f64 = row.iter().zip(&fc1_in).map(|(&w, x)| f64::from(w) * x).sum::<f64>() + f64::from(FC1_B[o]);
            y.max(0.0)
        })
        .collect();
    (conv_in, fc1_in, fc2_in)
}

/// `sqrt(mean over images of x²)` per position of the per-image vectors.
fn l2_over_images(per_image: &[Vec<f64>]) -> Vec<f64> {
    (0..per_image[0].len())
        .map(|i| (per_image.iter().map(|v| v[i] * v[i]).sum::<f64>() / per_image.len() as f64).sqrt())
        .collect()
}

fn assert_close(found: &[f32], expected: &[f64], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}");
    for (i, (&f, &e)) in found.iter().zip(expected).enumerate() {
        assert!((f64::from(f) - e).abs() <= 1e-5 * e.abs().max(1.0), "{what}[{i}]: {f} vs {e}");
    }
}

#[test]
fn input_norms_of_a_tiny_model_match_a_hand_computation() {
    let model = tiny();
    let norms = input_norms(&model, &IMAGES, 2, ActivationStat::L2Norm).unwrap();
    assert_eq!(norms.iter().map(|n| n.layer).collect::<Vec<_>>(), ["conv1", "fc1", "fc2"]);

    let (a, b) = (by_hand(&IMAGES[..4]), by_hand(&IMAGES[4..]));
    // conv1 has one input channel: sqrt(((1 + 4 + 1 + 0) + (0.25 + 9 + 4 + 1)) / 2).
    assert_close(&norms[0].values, &[10.125f64.sqrt()], "conv1");
    assert_close(&norms[1].values, &l2_over_images(&[a.1.clone(), b.1.clone()]), "fc1");
    assert_close(&norms[2].values, &l2_over_images(&[a.2.clone(), b.2.clone()]), "fc2");
    assert!(norms[1].values.iter().any(|&v| v == 0.0), "a ReLU that is off on both images gives a zero norm");
    assert!(norms[2].values.iter().all(|&v| v > 0.0));

    // The other statistics: the largest |x| and the mean |x| of the channel.
    let max = input_norms(&model, &IMAGES, 2, ActivationStat::Max).unwrap();
    assert_close(&max[0].values, &[3.0], "conv1 max");
    let mean = input_norms(&model, &IMAGES, 2, ActivationStat::Mean).unwrap();
    assert_close(&mean[0].values, &[10.5 / 8.0], "conv1 mean");

    // A calibration set that is not whole images, and no image at all.
    let error = input_norms(&model, &IMAGES[..6], 2, ActivationStat::L2Norm).unwrap_err();
    assert!(matches!(error, CompressError::Calibration { .. }), "{error}");
    assert!(error.to_string().contains("calibration set"), "{error}");
    assert_eq!(input_norms(&model, &[], 0, ActivationStat::L2Norm).unwrap_err(), CompressError::NoCalibrationData);
}

#[derive(Compressible, Clone)]
#[compressible(input = [2])]
pub struct TwoLayer {
    fc1: Linear<2, 2>,
    relu: ReLU,
    fc2: Linear<2, 2>,
}

fn two_layer() -> TwoLayer {
    let mut model = Cpu::default().build_module::<TwoLayer, f32>();
    write_tensors(&mut model, &[("fc1.weight", &[2.0, 0.5, 0.3, 1.0]), ("fc1.bias", &[0.0, 0.0])]).unwrap();
    model
}

/// Half the weights of `fc1` (the classifier `fc2` is never sparsified), ranked by `criterion`.
fn half_of_fc1(criterion: Criterion) -> Sparsifier {
    Sparsifier::new(
        Sparsity::from_percent(50.0).unwrap(),
        Granularity::Conv(ConvGranularity::Weight),
        Ranking::Local,
        Criteria::new(criterion),
    )
    .layers(LayerChoice::named(["fc1"]))
}

#[test]
fn wanda_masks_weigh_each_weight_by_its_input_norm() {
    // Input 0 is tiny (norm 0.01), input 1 large (norm 10): |W|·‖X‖ = [[0.02, 5], [0.003, 10]].
    let calibration = [0.01, 10.0, -0.01, -10.0];
    let mut model = two_layer();
    let report = half_of_fc1(Criterion::Wanda).with_calibration(&calibration, 2).prune_model(&mut model).unwrap();
    assert_eq!(read_tensor(&model, "fc1.weight").unwrap().data, [0.0, 0.5, 0.0, 1.0], "column 0 goes");
    assert_eq!(report.layers[0].sparsity().percent(), 50.0);

    // By magnitude alone the two smallest weights are 0.5 and 0.3 instead.
    let mut by_magnitude = two_layer();
    half_of_fc1(Criterion::LargeFinal).prune_model(&mut by_magnitude).unwrap();
    assert_eq!(read_tensor(&by_magnitude, "fc1.weight").unwrap().data, [2.0, 0.0, 0.0, 1.0]);
}

#[test]
fn wanda_without_calibration_says_how_to_give_it() {
    let mut model = two_layer();
    let error = half_of_fc1(Criterion::Wanda).prune_model(&mut model).unwrap_err();
    assert_eq!(error, CompressError::MissingCalibration { criterion: "wanda" });
    let message = error.to_string();
    assert!(message.contains("with_calibration(images, n_images)") && message.contains("SparsifyCallback"), "{message}");
    assert_eq!(read_tensor(&model, "fc1.weight").unwrap().data, [2.0, 0.5, 0.3, 1.0], "nothing changed");
}

#[test]
fn wanda_while_training_calibrates_on_the_last_training_batches() {
    let (train, valid) = fasterai::data::digits(0.2, 0).unwrap();
    let data = DataLoaders::new(train.subset(64, 1).unwrap(), valid.subset(32, 2).unwrap(), 16, 0);
    let sparsifier = Sparsifier::new(
        Sparsity::from_percent(60.0).unwrap(),
        Granularity::Conv(ConvGranularity::Weight),
        Ranking::Local,
        Criteria::new(Criterion::Wanda),
    )
    .layers(LayerChoice::ConvolutionsAndLinear);
    let mut cb = SparsifyCallback::<SmallDigitsNet>::new(sparsifier, SparsitySchedule::lin())
        .unwrap()
        .calibration_batches(NonZeroUsize::new(3).unwrap())
        .with_output(Output::Quiet);
    let mut learn: Learner<SmallDigitsNet, (usize, Const<1>, Const<8>, Const<8>), 10> =
        Learner::new(Cpu::default().build_module::<SmallDigitsNet, f32>(), data).with_output(Output::Quiet);
    learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap(); // 8 steps
    let trained = learn.model();

    let window = cb.calibration_window().expect("wanda without images of its own calibrates on batches");
    assert_eq!(window.capacity().get(), 3);
    assert_eq!(window.images().unwrap().len(), 48, "the last three batches of 16");
    let masks = cb.sparsifier().masks();
    assert_eq!(masks.iter().map(|m| m.name).collect::<Vec<_>>(), ["conv1", "conv2", "fc1"]);
    for mask in masks {
        let w = read_tensor(trained, &format!("{}.weight", mask.name)).unwrap().data;
        for (i, (&w, &m)) in w.iter().zip(&mask.weight).enumerate() {
            assert!(m == 1.0 || w == 0.0, "{}[{i}] = {w} under a zero mask", mask.name);
        }
    }
    for layer in &cb.report().layers {
        assert!((layer.sparsity().percent() - 60.0).abs() < 0.5, "the linear schedule ends at the target: {layer}");
    }
    assert_eq!(cb.history().len(), 2);
}

#[test]
fn a_callback_calibrates_on_batches_only_when_it_must() {
    let wanda = |images: Option<&[f32]>| {
        let s = Sparsifier::new(
            Sparsity::from_percent(50.0).unwrap(),
            Granularity::Conv(ConvGranularity::Filter),
            Ranking::Local,
            Criteria::new(Criterion::Wanda),
        );
        match images {
            Some(images) => s.with_calibration(images, images.len() / 64),
            None => s,
        }
    };
    let own = SparsifyCallback::<SmallDigitsNet>::new(wanda(Some(&[0.5; 128])), SparsitySchedule::cos()).unwrap();
    assert!(own.calibration_window().is_none(), "the sparsifier's own images win");
    let batches = SparsifyCallback::<SmallDigitsNet>::new(wanda(None), SparsitySchedule::cos()).unwrap();
    assert_eq!(batches.calibration_window().map(|w| w.capacity().get()), Some(5), "fasterai's default");
    let magnitude = Sparsifier::new(
        Sparsity::from_percent(50.0).unwrap(),
        Granularity::Conv(ConvGranularity::Filter),
        Ranking::Local,
        Criteria::new(Criterion::LargeFinal),
    );
    let cb = SparsifyCallback::<SmallDigitsNet>::new(magnitude, SparsitySchedule::cos())
        .unwrap()
        .calibration_batches(NonZeroUsize::new(2).unwrap());
    assert!(cb.calibration_window().is_none(), "no calibration without an activation criterion");
}

#[test]
fn wanda_prunes_filters_through_prune_callback_too() {
    use fasterai::compress::prune::PruneCallback;
    let (train, valid) = fasterai::data::digits(0.2, 0).unwrap();
    let data = DataLoaders::new(train.subset(48, 1).unwrap(), valid.subset(16, 2).unwrap(), 16, 0);
    let mut cb = PruneCallback::<SmallDigitsNet>::new(
        Ratio::from_percent(50.0).unwrap(),
        SparsitySchedule::cos(),
        Ranking::Local,
        Criteria::new(Criterion::Wanda),
    )
    .unwrap()
    .with_output(Output::Quiet);
    let mut learn: Learner<SmallDigitsNet, (usize, Const<1>, Const<8>, Const<8>), 10> =
        Learner::new(Cpu::default().build_module::<SmallDigitsNet, f32>(), data).with_output(Output::Quiet);
    learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap();
    let widths: Vec<usize> = cb.plan().unwrap().layers().iter().map(|l| l.new_width()).collect();
    assert_eq!(widths, [4, 8, 32], "half the filters of conv1 and conv2; fc1 untouched");
}
