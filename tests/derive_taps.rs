//! `TappedForward` as `#[derive(Compressible)]` implements it: the taps' names and shapes, the
//! inference taps equal `forward_with_taps`'s, a loss on a training tap reaches the weights before
//! it (central finite differences), and fasterai's spatial-size matching on two derived models.

use fasterai::compress::distill::{match_by_spatial_size, resolve_pairs, FeaturePairs};
use fasterai::dfdx::prelude::{Backward, OwnedTape, PutTape, SplitTape, Trace};
use fasterai::dfdx::tensor::{AsArray, SampleTensor, TensorFromVec};
use fasterai::dfdx::tensor::Merge;
use fasterai::model::{read_tensor, write_tensor, FeatureMap};
use fasterai::prelude::*;

/// A small net without BatchNorm or Dropout: its training and inference forwards agree, so finite
/// differences can read the loss off the inference forward.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Student {
    conv1: Conv2D<1, 4, 3, 1, 1>, #[tap] relu1: ReLU, pool: MaxPool2D<2, 2>,
    conv2: Conv2D<4, 8, 3, 1, 1>, #[tap] relu2: ReLU,
    gap: GlobalAvgPool,
    #[tap] fc: Linear<8, 10>,
}

#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Teacher {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, #[tap] relu1: ReLU,
    conv2: Conv2D<8, 8, 3, 1, 1>, #[tap] relu2: ReLU, pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<8, 16, 3, 1, 1>, #[tap] relu3: ReLU, pool2: MaxPool2D<2, 2>,
    #[tap] gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

type Images = Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu>;

fn images(dev: &Cpu, batch: usize) -> Images {
    let values: Vec<f32> = (0..batch * 64).map(|i| ((i * 7919 % 97) as f32) / 48.0 - 1.0).collect();
    dev.tensor_from_vec(values, (batch, Const, Const, Const))
}

#[test]
fn the_taps_are_listed_in_model_order_with_their_shapes() {
    let taps: Vec<(&str, ShapeInfo)> = Student::TAPS.iter().map(|t| (t.name, t.shape)).collect();
    assert_eq!(
        taps,
        [
            ("relu1", ShapeInfo::Chw { c: 4, h: 8, w: 8 }),
            ("relu2", ShapeInfo::Chw { c: 8, h: 4, w: 4 }),
            ("fc", ShapeInfo::Flat { n: 10 }),
        ]
    );
    assert_eq!(Teacher::tap_names(), "relu1, relu2, relu3, gap");
}

#[test]
fn inference_taps_equal_forward_with_taps() {
    let dev = Cpu::seed_from_u64(3);
    let mut teacher = dev.build_module::<Teacher, f32>();
    teacher.bn1.running_mean = dev.sample_normal() * 0.1;
    teacher.bn1.running_var = dev.sample_uniform() + 0.5;
    let x = images(&dev, 3);
    let (logits, taps) = teacher.forward_tapped(x.clone()).unwrap();
    let (expected_logits, expected) = teacher.forward_with_taps(x).unwrap();
    assert_eq!(logits.as_vec(), expected_logits.as_vec());
    let got: Vec<(&str, (usize, usize, usize, usize), Vec<f32>)> =
        taps.iter().map(|t| (t.name, *t.map.shape(), t.map.as_vec())).collect();
    assert_eq!(
        got,
        [
            ("relu1", (3, 8, 8, 8), expected.relu1.as_vec()),
            ("relu2", (3, 8, 8, 8), expected.relu2.as_vec()),
            ("relu3", (3, 16, 4, 4), expected.relu3.as_vec()),
            ("gap", (3, 16, 1, 1), expected.gap.as_vec()),
        ]
    );
}

#[test]
fn the_training_forward_gives_the_same_values_as_forward_mut_with_taps() {
    let dev = Cpu::seed_from_u64(4);
    let mut a = dev.build_module::<Teacher, f32>();
    let mut b = a.clone();
    let x = images(&dev, 4);
    let (ya, taps) = a.forward_train_tapped(x.clone().traced(a.alloc_grads())).unwrap();
    let (yb, expected) = b.forward_mut_with_taps(x.traced(b.alloc_grads())).unwrap();
    assert_eq!(ya.as_vec(), yb.as_vec());
    assert_eq!(taps[2].map.as_vec(), expected.relu3.as_vec());
    assert_eq!(a.bn1.running_mean.as_vec(), b.bn1.running_mean.as_vec(), "BatchNorm statistics update alike");
}

/// `(batch, C, H, W)` target values for the `relu2` tap, fixed.
fn target(dev: &Cpu) -> FeatureMap {
    let values: Vec<f32> = (0..2 * 8 * 4 * 4).map(|i| ((i * 31 % 17) as f32) / 17.0).collect();
    dev.tensor_from_vec(values, (2, 8, 4, 4))
}

/// FitNet between the student's `relu2` tap (inference forward) and the target.
fn feature_loss_value(model: &Student, x: &Images, target: &FeatureMap) -> f64 {
    let (_, taps) = model.forward_tapped(x.clone()).unwrap();
    let tap = taps.into_iter().find(|t| t.name == "relu2").unwrap();
    let loss = DistillLoss::FitNet.feature_loss(vec![tap.map.retaped::<OwnedTape<f32, Cpu>>()], &[target.clone()]);
    f64::from(loss.unwrap().array())
}

#[test]
fn a_loss_on_a_training_tap_reaches_the_weights_before_it() {
    let dev = Cpu::seed_from_u64(5);
    let mut model = dev.build_module::<Student, f32>();
    let (x, target) = (images(&dev, 2), target(&dev));

    // What the learner does: split the logits' tape, merge the taps' tapes into it, detach the
    // taps; the feature term is built on a fresh tape and added to the task loss.
    let (logits, taps) = model.forward_train_tapped(x.clone().traced(model.alloc_grads())).unwrap();
    let (logits, mut tape) = logits.split_tape();
    let mut values = Vec::new();
    for tap in taps {
        let (tap, tap_tape) = tap.split();
        tape = tape.merge(tap_tape);
        values.push(tap);
    }
    let task = logits.put_tape(tape).sum::<Rank0, _>() * 0.0;
    let tapped = values[1].map.retaped::<OwnedTape<f32, Cpu>>();
    let loss = task + DistillLoss::FitNet.feature_loss(vec![tapped], &[target.clone()]).unwrap();
    let grads = loss.backward();

    for (name, gradient) in [("conv1.weight", grads.get(&model.conv1.weight).as_vec()), ("conv2.bias", grads.get(&model.conv2.bias).as_vec())] {
        assert!(gradient.iter().any(|g| *g != 0.0), "{name}: no gradient");
        let original = read_tensor(&model, name).unwrap().data;
        for i in (0..original.len()).step_by(5) {
            let eps = 1e-2f32;
            let mut at = |delta: f32| {
                let mut values = original.clone();
                values[i] += delta;
                write_tensor(&mut model, name, &values).unwrap();
                feature_loss_value(&model, &x, &target)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * f64::from(eps));
            write_tensor(&mut model, name, &original).unwrap();
            let analytic = f64::from(gradient[i]);
            assert!(
                (numeric - analytic).abs() <= 2e-3 + 0.05 * analytic.abs(),
                "{name}[{i}]: finite differences {numeric}, backward {analytic}"
            );
        }
    }
    assert!(grads.get(&model.fc.weight).as_vec().iter().all(|g| *g == 0.0), "fc comes after the tap, and the task weighs 0");
}

#[test]
fn spatial_matching_pairs_the_last_tap_of_each_shared_size() {
    let pairs: Vec<(&str, &str)> =
        match_by_spatial_size(Student::TAPS, Teacher::TAPS).iter().map(|p| (p.student.name, p.teacher.name)).collect();
    // Student 8×8: relu1; 4×4: relu2; fc is flat. Teacher 8×8: relu1, relu2 (the later wins); 4×4: relu3; gap is 1×1.
    assert_eq!(pairs, [("relu1", "relu2"), ("relu2", "relu3")]);

    let attention = resolve_pairs::<Student, Teacher>(&FeaturePairs::BySpatialSize, &DistillLoss::attention(2).unwrap());
    assert_eq!(attention.unwrap().len(), 2);
    let fitnet = resolve_pairs::<Student, Teacher>(&FeaturePairs::BySpatialSize, &DistillLoss::FitNet).unwrap_err();
    assert_eq!(
        fitnet.to_string(),
        "FitNet cannot compare student tap `relu1` (4×8×8) with teacher tap `relu2` (8×8×8): the loss compares the maps \
         value by value, so they need identical C×H×W (there is no regressor mapping channels); pair taps of the same shape"
    );
    let named = resolve_pairs::<Student, Teacher>(&FeaturePairs::named([("relu2", "conv3")]), &DistillLoss::Similarity);
    assert_eq!(
        named.unwrap_err().to_string(),
        "the teacher has no tapped layer `conv3`; its #[tap] layers: relu1, relu2, relu3, gap"
    );
}

/// A batch norm whose own output is tapped, before its ReLU.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct TappedNorm {
    conv: Conv2D<1, 4, 3, 1, 1>, #[tap] bn: BatchNorm2D<4>, #[tap] relu: ReLU,
    gap: GlobalAvgPool,
    fc: Linear<4, 10>,
}

#[test]
fn a_tapped_batch_norm_is_not_fused_with_its_relu_while_training() {
    // Training fuses BatchNorm2D + ReLU, except where the batch norm's own output is a tap: the tap
    // must hold the normalised values before the ReLU (about half of them negative).
    let dev = Cpu::seed_from_u64(5);
    let mut model = dev.build_module::<TappedNorm, f32>();
    let x = images(&dev, 4);
    let (_, taps) = model.forward_mut_with_taps(x.traced(model.alloc_grads())).unwrap();
    let (bn, relu) = (taps.bn.as_vec(), taps.relu.as_vec());
    assert!(bn.iter().filter(|v| **v < 0.0).count() > bn.len() / 4, "the batch norm tap is before the ReLU");
    assert_eq!(relu, bn.iter().map(|v| v.max(0.0)).collect::<Vec<_>>());
}
