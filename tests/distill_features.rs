//! Feature-map distillation on the embedded digits: a tiny student's `#[tap]` activations learn the
//! attention maps of a tiny teacher's through `KnowledgeDistillation::on_features` and a learner
//! built `with_taps()`; and every mistake is caught before the first training step.

mod support;

use fasterai::compress::distill::{FeaturePairs, OnFeatures};
use fasterai::dfdx::prelude::OwnedTape;
use fasterai::model::read_tensors;
use fasterai::prelude::*;
use support::digits::{data, Input};

#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
struct Teacher {
    conv1: Conv2D<1, 16, 3, 1, 1>, bn1: BatchNorm2D<16>, #[tap] relu1: ReLU, pool: MaxPool2D<2, 2>,
    conv2: Conv2D<16, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, #[tap] relu2: ReLU,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}

#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
struct Student {
    conv1: Conv2D<1, 4, 3, 1, 1>, bn1: BatchNorm2D<4>, #[tap] relu1: ReLU, pool: MaxPool2D<2, 2>,
    conv2: Conv2D<4, 8, 3, 1, 1>, bn2: BatchNorm2D<8>, #[tap] relu2: ReLU,
    gap: GlobalAvgPool,
    fc: Linear<8, 10>,
}


compress! {
    /// The student distilled on attention maps paired by spatial size.
    pub AttentionDistilled = Student { distill(teacher: Teacher, loss = Attention(p = 2, alpha = 0.9), epochs = 2, lr = 1e-2) }
}

compress! {
    /// The same pairs spatial matching finds, named.
    pub BothPairsNamed = Student {
        distill(teacher: Teacher, loss = Attention(p = 2, alpha = 0.9), pairs = "relu1 -> relu1, relu2 -> relu2", epochs = 2, lr = 1e-2)
    }
}

compress! {
    /// Only the deeper maps compared.
    pub DeepPairNamed = Student {
        distill(teacher: Teacher, loss = Attention(p = 2, alpha = 0.9), pairs = "relu2 -> relu2", epochs = 2, lr = 1e-2)
    }
}

compress! {
    /// A teacher tap that does not exist: only the run time can tell.
    pub UnknownTeacherTap = Student { distill(teacher: Teacher, loss = Attention(p = 2), pairs = "relu2 -> conv2") }
}

compress! {
    /// A pair spatial matching would never make (8×8 with 4×4): Attention refuses it.
    pub MismatchedPair = Student { distill(teacher: Teacher, loss = Attention(p = 2), pairs = "relu1 -> relu2") }
}

fn trained_teacher() -> Teacher {
    support::digits::trained(1, 2)
}

fn student_learner() -> Learner<Student, Input, 10> {
    let model = Cpu::seed_from_u64(2).build_module::<Student, f32>();
    Learner::new(model, data()).with_output(Output::Quiet)
}

fn attention_kd(teacher: Teacher, pairs: FeaturePairs) -> KnowledgeDistillation<Teacher, OnFeatures> {
    let loss = DistillLoss::attention(2).unwrap();
    KnowledgeDistillation::on_features(teacher, loss, LossWeight::from_fraction(0.9).unwrap(), pairs).unwrap()
}

/// The Attention loss between the student's and the teacher's taps on the validation digits
/// (inference forwards), summed over the two pairs.
fn attention_gap(student: &Student, teacher: &Teacher) -> f32 {
    let images = data().valid.images().to_vec();
    let x = <Input as fasterai::learn::BatchInput>::from_images(&Cpu::default(), images, [1, 8, 8]).unwrap();
    let (_, s) = student.forward_tapped(x.clone()).unwrap();
    let (_, t) = teacher.forward_tapped(x).unwrap();
    let s = s.into_iter().map(|tap| tap.map.retaped::<OwnedTape<f32, Cpu>>()).collect();
    let t: Vec<_> = t.into_iter().map(|tap| tap.map).collect();
    DistillLoss::attention(2).unwrap().feature_loss(s, &t).unwrap().array()
}

fn weights<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<f32> {
    read_tensors(model).into_iter().flat_map(|t| t.data).collect()
}

#[test]
fn attention_distillation_trains_the_student_towards_the_teachers_maps() {
    let teacher = trained_teacher();
    let teacher_before = weights(&teacher);
    let mut kd = attention_kd(teacher, FeaturePairs::BySpatialSize);
    let mut learn = student_learner().with_taps();
    let gap_before = attention_gap(learn.model(), kd.teacher());

    let history = learn.fit_with(3, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut kd]).unwrap();

    let pairs: Vec<(&str, &str)> = kd.pairs().iter().map(|p| (p.student.name, p.teacher.name)).collect();
    assert_eq!(pairs, [("relu1", "relu1"), ("relu2", "relu2")], "8×8 with 8×8, 4×4 with 4×4");
    let terms = kd.last_terms().unwrap();
    let feature = terms.distill.expect("w = 0.9: the teacher ran");
    assert!(feature > 0.0 && feature.is_finite(), "{terms:?}");
    assert!((terms.total - (0.1 * terms.task + 0.9 * feature)).abs() < 1e-5, "{terms:?}");
    let losses: Vec<f32> = history.epochs.iter().map(|e| e.train_loss).collect();
    assert!(losses[2] < losses[0], "the training loss decreases: {losses:?}");
    let gap_after = attention_gap(learn.model(), kd.teacher());
    assert!(gap_after < gap_before, "the student's attention maps moved to the teacher's: {gap_before} → {gap_after}");
    assert_eq!(weights(kd.teacher()), teacher_before, "the teacher runs without a tape and is not trained");
}

#[test]
fn the_feature_term_changes_the_updates_and_a_zero_weight_does_not() {
    let teacher = Cpu::seed_from_u64(1).build_module::<Teacher, f32>();
    let train = |callbacks: &mut [&mut dyn Callback<Student, Input, 10>]| {
        let mut learn = student_learner().with_taps();
        learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, callbacks).unwrap();
        weights(learn.model())
    };
    let plain = {
        let mut learn = student_learner();
        learn.fit(1, 1e-2).unwrap();
        weights(learn.model())
    };
    assert_eq!(train(&mut []), plain, "a learner with taps but no feature loss trains exactly as before");
    let loss = DistillLoss::attention(2).unwrap();
    let mut off = KnowledgeDistillation::on_features(teacher.clone(), loss, LossWeight::ZERO, FeaturePairs::BySpatialSize).unwrap();
    assert_eq!(train(&mut [&mut off]), plain, "w = 0 changes nothing");
    let mut on = attention_kd(teacher, FeaturePairs::named([("relu2", "relu2")]));
    assert_ne!(train(&mut [&mut on]), plain, "w = 0.9 changes the updates");
}

#[test]
fn mistakes_are_reported_before_the_first_step() {
    let teacher = Cpu::seed_from_u64(1).build_module::<Teacher, f32>();
    let untouched = weights(student_learner().model());
    let fit = |learn: &mut Learner<Student, Input, 10>, kd: &mut KnowledgeDistillation<Teacher, OnFeatures>| {
        let err = learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [kd]).unwrap_err().to_string();
        assert_eq!(weights(learn.model()), untouched, "no step was taken");
        err
    };

    let mut kd = attention_kd(teacher.clone(), FeaturePairs::BySpatialSize);
    let no_taps = fit(&mut student_learner(), &mut kd);
    assert!(no_taps.contains("build the learner with `Learner::with_taps()`"), "{no_taps}");

    let mut kd = attention_kd(teacher.clone(), FeaturePairs::named([("relu2", "conv2")]));
    let unknown = fit(&mut student_learner().with_taps(), &mut kd);
    assert!(unknown.ends_with("the teacher has no tapped layer `conv2`; its #[tap] layers: relu1, relu2"), "{unknown}");

    let mut kd = attention_kd(teacher.clone(), FeaturePairs::named([("relu1", "relu2")]));
    let sizes = fit(&mut student_learner().with_taps(), &mut kd);
    assert!(
        sizes.contains("Attention cannot compare student tap `relu1` (4×8×8) with teacher tap `relu2` (32×4×4): attention maps need the same spatial size"),
        "{sizes}"
    );

    let loss = DistillLoss::FitNet;
    let mut kd = KnowledgeDistillation::on_features(teacher, loss, LossWeight::from_fraction(0.5).unwrap(), FeaturePairs::BySpatialSize).unwrap();
    let channels = fit(&mut student_learner().with_taps(), &mut kd);
    assert!(channels.contains("FitNet cannot compare student tap `relu1` (4×8×8) with teacher tap `relu1` (16×8×8)"), "{channels}");

    assert!(KnowledgeDistillation::new((), DistillLoss::FitNet, LossWeight::ZERO).unwrap_err().to_string().contains("on_features"));
}

#[test]
fn a_compress_block_distils_feature_maps_with_spatial_matching() {
    let teacher = Cpu::seed_from_u64(1).build_module::<Teacher, f32>();
    let student = Cpu::seed_from_u64(2).build_module::<Student, f32>();
    let before = weights(&student);
    let done = AttentionDistilled::compress(student, &teacher, data(), Output::Quiet).unwrap();
    let stages: Vec<&str> = done.report.rows().iter().map(|r| r.stage.as_str()).collect();
    assert_eq!(stages, ["source", "distill"]);
    assert_ne!(weights(&done.model), before, "the distill stage trained the student");
    assert_eq!(AttentionDistilled::tap_names(), "relu1, relu2", "the generated type keeps the student's taps");
}

#[test]
fn a_compress_block_distils_the_pairs_it_names() {
    let teacher = Cpu::seed_from_u64(1).build_module::<Teacher, f32>();
    let student = || Cpu::seed_from_u64(2).build_module::<Student, f32>();
    let spatial = AttentionDistilled::compress(student(), &teacher, data(), Output::Quiet).unwrap();
    let both = BothPairsNamed::compress(student(), &teacher, data(), Output::Quiet).unwrap();
    let deep = DeepPairNamed::compress(student(), &teacher, data(), Output::Quiet).unwrap();
    assert_ne!(weights(&deep.model), weights(&student()), "the named pair trained the student");
    assert_eq!(weights(&both.model), weights(&spatial.model), "naming the spatial pairs trains the same student");
    assert_ne!(weights(&deep.model), weights(&spatial.model), "one named pair is not the two spatial ones");
}

#[test]
fn a_compress_block_checks_the_named_teacher_taps_before_training() {
    let teacher = Cpu::seed_from_u64(1).build_module::<Teacher, f32>();
    let student = || Cpu::seed_from_u64(2).build_module::<Student, f32>();
    let unknown = UnknownTeacherTap::compress(student(), &teacher, data(), Output::Quiet).unwrap_err().to_string();
    assert!(unknown.ends_with("the teacher has no tapped layer `conv2`; its #[tap] layers: relu1, relu2"), "{unknown}");
    let mismatched = MismatchedPair::compress(student(), &teacher, data(), Output::Quiet).unwrap_err().to_string();
    assert!(
        mismatched.contains("Attention cannot compare student tap `relu1` (4×8×8) with teacher tap `relu2` (32×4×4)"),
        "the named pair is used, not spatial matching: {mismatched}"
    );
}
