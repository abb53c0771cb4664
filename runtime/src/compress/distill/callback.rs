//! Knowledge distillation as a [`Callback`]: the student learns from the labels and from a teacher's
//! logits at once (fasterai's `KnowledgeDistillationCallback`, logit losses).
//!
//! In `after_loss` the teacher runs on the batch's input without a tape (in evaluation mode: its
//! BatchNorm uses running statistics, its Dropout is off), the chosen [`DistillLoss`] compares the
//! student's logits with the teacher's, and the loss back-propagated becomes
//! `(1 − w)·task + w·distill`, with `w` a [`LossWeight`], optionally ramped by a [`SparsitySchedule`] over
//! training (`w · progress`, fasterai's `schedule`).
//!
//! Feature losses on intermediate activations (`Attention`, `FitNet`, ...) take the other
//! constructor, [`KnowledgeDistillation::on_features`]: the student's `#[tap]` activations (its
//! learner built with `Learner::with_taps`) are compared with the teacher's, pair by pair
//! ([`super::FeaturePairs`]); see `callback_features.rs`. [`KnowledgeDistillation::new`] rejects them.

use dfdx::prelude::{AsArray as _, Const, Cpu, Module, RealizeTo as _, Shape, Tensor, TryAdd as _, TryMul as _};

use super::{DistillLoss, FeaturePair, FeaturePairs};
use crate::compress::sparsify::SparsitySchedule;
use crate::compress::CompressError;
use crate::learn::{Callback, Context, Forward, Fraction, LearnError, TapedLoss};
use crate::units::LossWeight;

/// The callback's name in errors and reports.
pub(super) const NAME: &str = "KnowledgeDistillation";

/// The parts of the last training loss the callback built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistillTerms {
    /// The task loss it received (cross-entropy, or whatever earlier callbacks made of it).
    pub task: f32,
    /// The distillation loss, `None` when the weight was 0 and the teacher was not run.
    pub distill: Option<f32>,
    /// The weight `w` in force for this batch (after the schedule).
    pub weight: LossWeight,
    /// The loss handed on: `(1 − w)·task + w·distill`.
    pub total: f32,
}

/// Trains a student against a teacher's logits: `loss = (1 − w)·task + w·distill(student, teacher)`.
///
/// The teacher `T` is any module taking the student's batches `X` and giving the same number `K`
/// of logits: rustc rejects a teacher predicting another number of classes.
///
/// `On` says what is compared: [`OnLogits`] (built by [`KnowledgeDistillation::new`]) or the two
/// models' tapped feature maps, [`OnFeatures`] (built by [`KnowledgeDistillation::on_features`],
/// for a teacher implementing [`crate::model::TappedForward`]).
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::compress::distill::{DistillLoss, KnowledgeDistillation};
/// use fasterai_runtime::data::{DataLoaders, Dataset};
///
/// type Flat2 = (usize, Const<2>);
/// let points: Vec<f32> = (0..32).flat_map(|i| [(i % 4) as f32 - 1.5, (i / 8) as f32 - 1.5]).collect();
/// let labels = (0..32).map(|i| usize::from(i >= 16)).collect();
/// let set = Dataset::new(points, labels, [1, 1, 2], 2).unwrap();
///
/// let teacher = Linear::<2, 2>::build(&Cpu::seed_from_u64(1));
/// let mut kd = KnowledgeDistillation::new(
///     teacher,
///     DistillLoss::soft_target(3.0).unwrap(),
///     LossWeight::from_fraction(0.5).unwrap(),
/// )
/// .unwrap();
/// let student = Linear::<2, 2>::build(&Cpu::seed_from_u64(2));
/// let mut learn: Learner<_, Flat2, 2> =
///     Learner::new(student, DataLoaders::new(set.clone(), set, 4, 0)).with_output(Output::Quiet);
/// learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut kd]).unwrap();
/// let terms = kd.last_terms().unwrap();
/// let mixed = 0.5 * terms.task + 0.5 * terms.distill.unwrap();
/// assert!((terms.total - mixed).abs() < 1e-5);
/// ```
#[derive(Debug, Clone)]
pub struct KnowledgeDistillation<T, On = OnLogits> {
    pub(super) teacher: T,
    pub(super) loss: DistillLoss,
    pub(super) weight: LossWeight,
    pub(super) schedule: Option<SparsitySchedule>,
    pub(super) last: Option<DistillTerms>,
    pub(super) on: On,
}

/// What a [`KnowledgeDistillation`] compares: the two models' logits ([`KnowledgeDistillation::new`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnLogits;

/// What a [`KnowledgeDistillation`] compares: pairs of tapped feature maps
/// ([`KnowledgeDistillation::on_features`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OnFeatures {
    pub(super) pairs: FeaturePairs,
    pub(super) resolved: Vec<FeaturePair>,
}

impl<T> KnowledgeDistillation<T> {
    /// Distils `teacher` into the learner's model with a logit `loss` of weight `weight`.
    ///
    /// Errors: a loss parameter out of its domain (a temperature ≤ 0, a negative α or β), or a
    /// feature loss, which needs tapped activations this callback does not see.
    pub fn new(teacher: T, loss: DistillLoss, weight: LossWeight) -> Result<Self, CompressError> {
        loss.validate()?;
        if loss.is_feature_loss() {
            return Err(CompressError::WrongInputs {
                loss: loss.name(),
                problem: "compares feature maps, not logits: build the callback with \
                          `KnowledgeDistillation::on_features` (and the learner with `with_taps()`), or use \
                          SoftTarget, Logits, Mutual or DecoupledKd here",
            });
        }
        Ok(Self { teacher, loss, weight, schedule: None, last: None, on: OnLogits })
    }
}

impl<T, On> KnowledgeDistillation<T, On> {

    /// Ramps the weight over training: `w · schedule.progress(pct_train)` (e.g. [`SparsitySchedule::lin`]
    /// grows it from 0 to `w`).
    pub fn with_schedule(mut self, schedule: SparsitySchedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// The weight in force at `pct_train`.
    ///
    /// ```
    /// # use fasterai_runtime::compress::distill::{DistillLoss, KnowledgeDistillation};
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// # use fasterai_runtime::learn::Fraction;
    /// # use fasterai_runtime::units::LossWeight;
    /// let w = LossWeight::from_fraction(0.8).unwrap();
    /// let kd = KnowledgeDistillation::new((), DistillLoss::Logits, w).unwrap().with_schedule(SparsitySchedule::lin());
    /// assert_eq!(kd.weight_at(Fraction::ZERO).fraction(), 0.0);
    /// assert_eq!(kd.weight_at(Fraction::ONE), w);
    /// ```
    pub fn weight_at(&self, pct_train: Fraction) -> LossWeight {
        match &self.schedule {
            Some(schedule) => self.weight.scaled(schedule.progress(pct_train.get())),
            None => self.weight,
        }
    }

    /// The loss the student is trained with.
    pub fn loss(&self) -> DistillLoss {
        self.loss
    }

    /// The teacher.
    pub fn teacher(&self) -> &T {
        &self.teacher
    }

    /// Gives the teacher back.
    pub fn into_teacher(self) -> T {
        self.teacher
    }

    /// The terms of the last training batch's loss (`None` before the first batch).
    pub fn last_terms(&self) -> Option<DistillTerms> {
        self.last
    }
}

impl<M, X: Shape, const K: usize, T> Callback<M, X, K> for KnowledgeDistillation<T, OnLogits>
where
    T: Module<Tensor<X, f32, Cpu>, Output = Tensor<(usize, Const<K>), f32, Cpu>>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        NAME
    }

    /// Replaces the loss by `(1 − w)·task + w·distill`; with `w = 0` the teacher is not run and the
    /// loss passes unchanged.
    fn after_loss(
        &mut self,
        ctx: &Context,
        forward: &Forward<'_, X, K>,
        loss: TapedLoss,
    ) -> Result<TapedLoss, LearnError> {
        let weight = self.weight_at(ctx.pct_train);
        let task = loss.array();
        if weight == LossWeight::ZERO {
            self.last = Some(DistillTerms { task, distill: None, weight, total: task });
            return Ok(loss);
        }
        let teacher = self.teacher.try_forward(forward.input().clone()).map_err(|e| LearnError::callback(NAME, e))?;
        let teacher = teacher.try_realize::<(usize, usize)>().map_err(|_| not_rows())?;
        let student = forward.logits_on_tape().try_realize::<(usize, usize)>().map_err(|_| not_rows())?;
        let distill =
            self.loss.loss(student, &teacher, Some(forward.labels())).map_err(|e| LearnError::callback(NAME, e))?;
        let (total, terms) = mix(loss, distill, weight)?;
        self.last = Some(terms);
        Ok(total)
    }
}

/// `(1 − w)·task + w·distill` and its terms.
pub(super) fn mix(task: TapedLoss, distill: TapedLoss, weight: LossWeight) -> Result<(TapedLoss, DistillTerms), LearnError> {
    let (task_value, distill_value) = (task.array(), distill.array());
    let w = weight.fraction() as f32;
    let total = task.try_mul(1.0 - w)?.try_add(distill.try_mul(w)?)?;
    let terms = DistillTerms { task: task_value, distill: Some(distill_value), weight, total: total.array() };
    Ok((total, terms))
}

/// `(batch, Const<K>)` always views as `(batch, K)`; this error stands in for the impossible case.
fn not_rows() -> LearnError {
    LearnError::callback(NAME, "the logits could not be viewed as (batch, classes)")
}

#[cfg(test)]
#[path = "callback_tests.rs"]
mod tests;
