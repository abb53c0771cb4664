//! Feature-map distillation as a [`Callback`]: the student's `#[tap]` activations learn from the
//! teacher's (fasterai's `KnowledgeDistillationCallback` with `activations_student` /
//! `activations_teacher`).
//!
//! Before training the pairs are resolved and checked on the two models' static tap shapes
//! ([`super::resolve_pairs`]). In `after_loss` the teacher runs its tapped inference forward on the
//! batch (no tape: running BatchNorm statistics, no dropout), the feature loss compares each pair,
//! and the loss becomes `(1 − w)·task + w·feature_loss`.

use dfdx::prelude::{AsArray as _, Shape};

use super::callback::{mix, NAME};
use super::{DistillLoss, DistillTerms, FeaturePair, FeaturePairs, KnowledgeDistillation, OnFeatures};
use crate::compress::CompressError;
use crate::learn::{Callback, Context, Forward, LearnError, TapedLoss};
use crate::model::{FeatureMap, TappedForward};
use crate::units::LossWeight;

impl<T> KnowledgeDistillation<T, OnFeatures> {
    /// Distils the teacher's tapped activations into the student's with a feature `loss`
    /// (`Attention`, `FitNet`, `Similarity`, `ActivationBoundaries`) of weight `weight`, on the tap
    /// `pairs`. The student's learner must be built with `Learner::with_taps()`; training fails
    /// before its first step otherwise, or when a pair names an unknown tap or shapes the loss
    /// cannot compare.
    ///
    /// Errors: a loss parameter out of its domain, or a logit loss (use [`KnowledgeDistillation::new`]).
    ///
    /// ```
    /// use fasterai_runtime::compress::distill::{DistillLoss, FeaturePairs, KnowledgeDistillation};
    /// use fasterai_runtime::units::LossWeight;
    /// let w = LossWeight::from_fraction(0.5).unwrap();
    /// let kd = KnowledgeDistillation::on_features((), DistillLoss::attention(2).unwrap(), w, FeaturePairs::BySpatialSize);
    /// assert!(kd.unwrap().pairs().is_empty(), "resolved when training starts");
    /// let logits = KnowledgeDistillation::on_features((), DistillLoss::Logits, w, FeaturePairs::BySpatialSize);
    /// assert!(logits.unwrap_err().to_string().contains("KnowledgeDistillation::new"));
    /// ```
    pub fn on_features(
        teacher: T,
        loss: DistillLoss,
        weight: LossWeight,
        pairs: FeaturePairs,
    ) -> Result<Self, CompressError> {
        loss.validate()?;
        if !loss.is_feature_loss() {
            return Err(CompressError::WrongInputs {
                loss: loss.name(),
                problem: "compares logits, not feature maps: build the callback with `KnowledgeDistillation::new`",
            });
        }
        let on = OnFeatures { pairs, resolved: Vec::new() };
        Ok(Self { teacher, loss, weight, schedule: None, last: None, on })
    }

    /// The pairs as given.
    pub fn feature_pairs(&self) -> &FeaturePairs {
        &self.on.pairs
    }

    /// The pairs resolved on the student and the teacher (empty before training starts).
    pub fn pairs(&self) -> &[FeaturePair] {
        &self.on.resolved
    }
}

impl<M, X: Shape, const K: usize, T> Callback<M, X, K> for KnowledgeDistillation<T, OnFeatures>
where
    M: TappedForward,
    T: TappedForward<Input = X>,
{
    fn name(&self) -> &str {
        NAME
    }

    fn needs_taps(&self) -> bool {
        true
    }

    /// Resolves and checks the pairs on `M::TAPS` and `T::TAPS`.
    fn before_fit(&mut self, _: &Context, _: &mut M) -> Result<(), LearnError> {
        self.on.resolved = super::resolve_pairs::<M, T>(&self.on.pairs, &self.loss).map_err(|e| LearnError::callback(NAME, e))?;
        Ok(())
    }

    /// Replaces the loss by `(1 − w)·task + w·feature_loss`; with `w = 0` the teacher is not run.
    fn after_loss(&mut self, ctx: &Context, forward: &Forward<'_, X, K>, loss: TapedLoss) -> Result<TapedLoss, LearnError> {
        let weight = self.weight_at(ctx.pct_train);
        if weight == LossWeight::ZERO {
            let task = loss.array();
            self.last = Some(DistillTerms { task, distill: None, weight, total: task });
            return Ok(loss);
        }
        if forward.taps().is_none() {
            return Err(LearnError::TapsRequired { callback: NAME.to_string() });
        }
        if self.on.resolved.is_empty() {
            // Driven without `before_fit` (a hand-written loop): resolve now.
            self.on.resolved =
                super::resolve_pairs::<M, T>(&self.on.pairs, &self.loss).map_err(|e| LearnError::callback(NAME, e))?;
        }
        let (_, teacher_taps) =
            self.teacher.forward_tapped(forward.input().clone()).map_err(|e| LearnError::callback(NAME, e))?;
        let mut student = Vec::with_capacity(self.on.resolved.len());
        let mut teacher: Vec<FeatureMap> = Vec::with_capacity(self.on.resolved.len());
        for pair in &self.on.resolved {
            let missing = |model: &str, name: &str| {
                LearnError::callback(NAME, format!("the {model}'s tapped forward returned no tap `{name}`"))
            };
            student.push(forward.tap(pair.student.name).ok_or_else(|| missing("student", pair.student.name))?);
            let tap = teacher_taps.iter().find(|tap| tap.name == pair.teacher.name);
            teacher.push(tap.ok_or_else(|| missing("teacher", pair.teacher.name))?.map.clone());
        }
        let distill = self.loss.feature_loss(student, &teacher).map_err(|e| LearnError::callback(NAME, e))?;
        let (total, terms) = mix(loss, distill, weight)?;
        self.last = Some(terms);
        Ok(total)
    }
}
