//! Stage `distilled`: train a fresh copy of the baseline's architecture with the teacher's help.

use std::time::Instant;

use fasterai::dfdx::prelude::{Const, Module, Tensor};
use fasterai::learn::{BatchInput, Classifier, LrSchedule, OneCycle};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{epochs, CLASSES};
use super::story::Story;

/// The stage name of the distilled student in the report.
pub const DISTILLED: &str = "distilled";

/// Softening temperature of the teacher's and student's probabilities.
pub const TEMPERATURE: f32 = 3.0;

/// Weight of the distillation term: loss = (1 − w)·cross-entropy + w·distillation.
pub const WEIGHT_PERCENT: f64 = 50.0;

const EXPLANATION: &str = "Distilled: a fresh student with the baseline's architecture, trained for the \
    same epochs, but its loss mixes the usual cross-entropy on the labels with how far its softened \
    predictions are from the teacher's (KL divergence at temperature 3, half and half). Same size and \
    speed as the baseline; what changes is how well the small model learns. Every later stage starts \
    from this student.";

/// Trains `student` (untrained, the baseline's architecture) with one-cycle for the settings'
/// epochs and peak rate, with a [`KnowledgeDistillation`] callback running `teacher` on every
/// batch (no tape), and records the `distilled` row.
pub fn distill<M, T, X>(story: &mut Story<X>, student: M, teacher: &T) -> Result<M, StageError>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    T: Module<Tensor<X, f32, Cpu>, Output = Tensor<(usize, Const<CLASSES>), f32, Cpu>> + Clone,
    T::Error: std::error::Error + Send + Sync + 'static,
    X: BatchInput,
{
    let loss = DistillLoss::soft_target(TEMPERATURE).stage(DISTILLED)?;
    let weight = LossWeight::from_percent(WEIGHT_PERCENT).stage(DISTILLED)?;
    let mut kd = KnowledgeDistillation::new(teacher.clone(), loss, weight).stage(DISTILLED)?;
    let mut learn = story.learner(student);
    let (n, lr) = (story.settings().epochs, story.settings().lr_max);
    println!("Training the student for {} with the teacher's soft targets (one-cycle, peak {lr}):", epochs(n));
    let start = Instant::now();
    let history = learn.fit_with(n, LrSchedule::OneCycle(OneCycle::new(lr)), &mut [&mut kd]).stage(DISTILLED)?;
    story.add_training(DISTILLED, history, start.elapsed());
    story.record(DISTILLED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
