//! The run-time passes on a residual network: sparsification reaches every conv (shortcut ones
//! included), sensitivity lists the block interiors, quantization-aware training runs through the
//! skips, and feature distillation pairs a tap inside a block with the teacher's.

#[macro_use]
mod support;

use fasterai::compress::distill::FeaturePairs;
use fasterai::compress::sparsify::{Context as Ranking, ConvGranularity, Criteria, Criterion, Granularity};
use fasterai::data::{DataLoaders, Dataset};
use fasterai::model::read_tensor;
use fasterai::prelude::*;
use support::resnet::DigitsResNet;

type Input = (usize, Const<1>, Const<8>, Const<8>);

/// 512 training digits and the whole validation split.
fn data() -> DataLoaders {
    let (train, valid) = digits(0.2, 0).unwrap();
    let first = |set: &Dataset, n: usize| set.select(&(0..n).collect::<Vec<_>>()).unwrap();
    DataLoaders::new(first(&train, 512), valid, 32, 0)
}

fn learner(seed: u64) -> Learner<DigitsResNet, Input, 10> {
    Learner::new(Cpu::seed_from_u64(seed).build_module::<DigitsResNet, f32>(), data()).with_output(Output::Quiet)
}

fn zero_share(model: &DigitsResNet, name: &str) -> f64 {
    let t = read_tensor(model, name).unwrap();
    t.data.iter().filter(|v| **v == 0.0).count() as f64 / t.data.len() as f64
}

#[test]
fn sparsify_reaches_every_conv_of_every_block() {
    let mut learn = learner(1);
    let sparsifier = Sparsifier::new(
        Sparsity::from_percent(50.0).unwrap(),
        Granularity::Conv(ConvGranularity::Weight),
        Ranking::Local,
        Criteria::new(Criterion::LargeFinal),
    );
    let mut sparsify = SparsifyCallback::<DigitsResNet>::new(sparsifier, SparsitySchedule::cos()).unwrap();
    learn.fit_with(2, LrSchedule::OneCycle(OneCycle::new(1e-2)), &mut [&mut sparsify]).unwrap();
    for name in ["conv1.weight", "layer1.0.conv1.weight", "layer1.1.conv2.weight", "layer2.0.downsample.weight", "layer2.1.conv2.weight"] {
        let share = zero_share(learn.model(), name);
        assert!((share - 0.5).abs() < 0.02, "{name}: {share:.3} of the weights are zero");
    }
}

#[test]
fn sensitivity_lists_the_convs_inside_blocks() {
    let mut learn = learner(2);
    learn.fit_one_cycle(1, 1e-2).unwrap();
    let int8 = analyze_learner(&mut learn, Perturbation::QuantizeWeights { bits: 8 }).unwrap();
    let names: Vec<&str> = int8.iter().map(|s| s.layer.as_str()).collect();
    assert!(names.contains(&"layer2.0.downsample") && names.contains(&"layer1.1.conv2") && names.contains(&"fc"), "{names:?}");
    assert_eq!(names.len(), 11, "the stem, the 9 convs of the blocks and the classifier: {names:?}");
}

#[test]
fn quantization_aware_training_runs_through_the_skips() {
    let mut learn = learner(3);
    let mut qat = QuantizeCallback::new();
    assert_eq!(qat.layers::<DigitsResNet>().unwrap().len(), 11);
    let history = learn.fit_with(1, LrSchedule::OneCycle(OneCycle::new(1e-2)), &mut [&mut qat]).unwrap();
    assert!(history.epochs.iter().all(|e| e.train_loss.is_finite() && e.valid_loss.is_finite()));
}

#[test]
fn a_tap_inside_a_block_distils_from_the_teachers() {
    let mut teacher = learner(4);
    teacher.fit_one_cycle(1, 1e-2).unwrap();
    let loss = DistillLoss::attention(2).unwrap();
    let pairs: FeaturePairs = "layer2.1.conv2 -> layer2.1.conv2".parse().unwrap();
    let mut kd = KnowledgeDistillation::on_features(teacher.model().clone(), loss, LossWeight::from_fraction(0.9).unwrap(), pairs).unwrap();
    let mut student = learner(5).with_taps();
    student.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut kd]).unwrap();
    let pairs: Vec<(&str, &str)> = kd.pairs().iter().map(|p| (p.student.name, p.teacher.name)).collect();
    assert_eq!(pairs, [("layer2.1.conv2", "layer2.1.conv2")]);
    let feature = kd.last_terms().unwrap().distill.expect("w = 0.9: the teacher ran");
    assert!(feature.is_finite() && feature > 0.0);
}
