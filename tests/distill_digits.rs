//! Knowledge distillation on the embedded digits: a small student trains against a wider teacher
//! through the learner's callback, the loss it back-propagates holds the distillation term, and the
//! teacher is left untouched.

mod support;

use fasterai::model::read_tensors;
use fasterai::prelude::*;
use support::digits::{data, Input};

/// The teacher: two 3×3 convolutions of 16 and 32 filters.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
struct Teacher {
    conv1: Conv2D<1, 16, 3, 1, 1>, bn1: BatchNorm2D<16>, relu1: ReLU,
    conv2: Conv2D<16, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc: Linear<512, 10>,
}

/// The student: one convolution of 8 filters.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
struct Student {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc: Linear<128, 10>,
}

fn trained_teacher() -> Teacher {
    support::digits::trained(1, 1)
}

/// The student after one epoch with `callbacks`; same seeds every time.
fn train_student(callbacks: &mut [&mut dyn Callback<Student, Input, 10>]) -> (Student, History) {
    let model = Cpu::seed_from_u64(2).build_module::<Student, f32>();
    let mut learn: Learner<_, Input, 10> = Learner::new(model, data()).with_output(Output::Quiet);
    let history = learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, callbacks).unwrap();
    (learn.into_model(), history)
}

fn weights(model: &Student) -> Vec<f32> {
    read_tensors(model).into_iter().flat_map(|t| t.data).collect()
}

#[test]
fn a_student_trains_against_the_teacher_and_its_loss_holds_the_term() {
    let teacher = trained_teacher();
    let teacher_before = read_tensors(&teacher);
    let loss = DistillLoss::soft_target(3.0).unwrap();
    let mut kd = KnowledgeDistillation::new(teacher, loss, LossWeight::from_fraction(0.5).unwrap()).unwrap();

    let (distilled, history) = train_student(&mut [&mut kd]);
    assert_eq!(history.epochs.len(), 1);
    assert!(history.epochs[0].train_loss.is_finite() && history.epochs[0].valid_loss.is_finite());

    let terms = kd.last_terms().expect("the callback saw the batches");
    let distill = terms.distill.expect("w = 0.5: the teacher ran");
    assert!(distill.is_finite() && distill > 0.0, "a student and its teacher disagree: {terms:?}");
    assert!((terms.total - (0.5 * terms.task + 0.5 * distill)).abs() < 1e-5, "{terms:?}");
    assert_eq!(read_tensors(kd.teacher()), teacher_before, "the teacher, run without a tape, is not trained");

    // The term reaches the gradients: with w = 0 training is plain training, with w = 0.5 it is not.
    let (plain, _) = train_student(&mut []);
    let loss = DistillLoss::soft_target(3.0).unwrap();
    let mut off = KnowledgeDistillation::new(kd.into_teacher(), loss, LossWeight::ZERO).unwrap();
    let (weight_zero, _) = train_student(&mut [&mut off]);
    assert_eq!(off.last_terms().unwrap().distill, None);
    assert_eq!(weights(&weight_zero), weights(&plain), "w = 0 changes nothing");
    assert_ne!(weights(&distilled), weights(&plain), "w = 0.5 changes the updates");
}
