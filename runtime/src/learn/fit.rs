//! The training loop: schedules, callbacks, the non-finite loss, gradient and weight guards and
//! the epoch table.

use std::time::Instant;

use dfdx::nn::ZeroGrads as _;
use dfdx::prelude::{AsArray as _, Backward as _, ModuleMut, PutTape as _, SplitTape as _, Trace as _};
use dfdx::tensor::Merge as _;

use super::finite::{non_finite_gradient, non_finite_weight};
use super::output::Reporter;
use super::{
    cross_entropy, BatchInput, Callback, Classifier, Context, Control, EpochRecord, Forward, Fraction, History,
    LearnError, Learner, LrSchedule, OneCycle,
};
use crate::data::Batch;

/// fastai's smoothed training loss: an exponential moving average with β = 0.98, debiased.
#[derive(Debug, Default)]
struct SmoothLoss {
    average: f64,
    count: i32,
}

impl SmoothLoss {
    const BETA: f64 = 0.98;

    fn push(&mut self, loss: f32) {
        self.average = Self::BETA * self.average + (1.0 - Self::BETA) * f64::from(loss);
        self.count = self.count.saturating_add(1);
    }

    fn value(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.average / (1.0 - Self::BETA.powi(self.count))
    }
}

/// Runs one hook on every callback in order, stopping at the first error.
macro_rules! each {
    ($cbs:expr, |$cb:ident| $call:expr) => {
        for $cb in $cbs.iter_mut() {
            $call?;
        }
    };
}

impl<M: Classifier<X, K>, X: BatchInput, const K: usize> Learner<M, X, K> {
    /// Trains `epochs` epochs at the constant learning rate `lr`, with the optimizer's own momentum.
    pub fn fit(&mut self, epochs: usize, lr: f64) -> Result<History, LearnError> {
        self.fit_with(epochs, LrSchedule::Constant { lr }, &mut [])
    }

    /// Trains `epochs` epochs with fastai's one-cycle policy peaking at `lr_max` (see [`OneCycle`]).
    pub fn fit_one_cycle(&mut self, epochs: usize, lr_max: f64) -> Result<History, LearnError> {
        self.fit_with(epochs, LrSchedule::OneCycle(OneCycle::new(lr_max)), &mut [])
    }

    /// Trains `epochs` epochs on `schedule`, running the learner's callbacks and then `extra` ones
    /// (which the caller keeps, to read their state afterwards).
    ///
    /// Errors: an invalid learning rate or momentum, an empty set, images the model's input cannot hold or
    /// labels beyond `K` (all before any step); a NaN or infinite loss or gradient (naming epoch
    /// and batch, checked every step before the optimizer moves a weight); a NaN or infinite weight
    /// or BatchNorm statistic (checked at the end of every epoch); a failing model, device or
    /// callback. After a loss or gradient error the model keeps the weights it had.
    pub fn fit_with(
        &mut self,
        epochs: usize,
        schedule: LrSchedule,
        extra: &mut [&mut dyn Callback<M, X, K>],
    ) -> Result<History, LearnError> {
        let mut own = std::mem::take(&mut self.callbacks);
        let mut callbacks: Vec<&mut dyn Callback<M, X, K>> =
            own.iter_mut().map(|cb| &mut **cb as &mut dyn Callback<M, X, K>).collect();
        callbacks.extend(extra.iter_mut().map(|cb| &mut **cb as &mut dyn Callback<M, X, K>));
        let result = self.run(epochs, schedule, &mut callbacks);
        drop(callbacks);
        self.callbacks = own;
        result
    }

    fn check(&self, schedule: &LrSchedule) -> Result<(), LearnError> {
        schedule.validate()?;
        for (set, which) in [(&self.data.train, "training"), (&self.data.valid, "validation")] {
            if set.is_empty() {
                return Err(LearnError::EmptyDataset { which });
            }
            if !X::accepts(set.shape()) {
                return Err(LearnError::InputShape { expected: X::describe(), found: set.shape() });
            }
            if set.num_classes() > K {
                return Err(LearnError::LabelOutOfRange { label: set.num_classes() - 1, outputs: K });
            }
        }
        Ok(())
    }

    fn run(
        &mut self,
        epochs: usize,
        schedule: LrSchedule,
        callbacks: &mut [&mut dyn Callback<M, X, K>],
    ) -> Result<History, LearnError> {
        self.check(&schedule)?;
        if self.tapped.is_none() {
            if let Some(cb) = callbacks.iter().find(|cb| cb.needs_taps()) {
                return Err(LearnError::TapsRequired { callback: cb.name().to_string() });
            }
        }
        let n_batches = self.data.train_len();
        let n_iterations = epochs * n_batches;
        let start = schedule.at(Fraction::ZERO);
        self.optimizer.set_hyper(start.lr, start.momentum);
        let (lr, momentum) = self.optimizer.hyper();
        let mut ctx = Context {
            epoch: 0,
            n_epochs: epochs,
            batch: 0,
            n_batches,
            iteration: 0,
            n_iterations,
            pct_train: Fraction::ZERO,
            lr,
            momentum,
            last_loss: None,
        };
        let mut reporter = Reporter::new(self.output, self.metrics.iter().map(|m| m.name()));
        reporter.start_fit();
        each!(callbacks, |cb| cb.before_fit(&ctx, &mut self.model));

        let mut grads = self.model.try_alloc_grads()?;
        let mut smooth = SmoothLoss::default();
        let mut history = History::default();
        for epoch in 0..epochs {
            let started = Instant::now();
            ctx.epoch = epoch;
            ctx.batch = 0;
            each!(callbacks, |cb| cb.before_epoch(&ctx, &mut self.model));
            reporter.start_epoch(epoch, epochs, n_batches);
            for (batch_index, batch) in self.data.train_batches(epoch).enumerate() {
                ctx.batch = batch_index;
                ctx.iteration = epoch * n_batches + batch_index;
                ctx.pct_train = Fraction::of(ctx.iteration, n_iterations);
                let hyper = schedule.at(ctx.pct_train);
                self.optimizer.set_hyper(hyper.lr, hyper.momentum);
                (ctx.lr, ctx.momentum) = self.optimizer.hyper();
                each!(callbacks, |cb| cb.before_batch(&ctx, &mut self.model, &batch));

                let Batch { images, labels, shape } = batch;
                let input = X::from_images(&self.device, images, shape)?;
                let (logits, tape, taps) = match self.tapped {
                    None => {
                        let logits = ModuleMut::try_forward_mut(&mut self.model, input.trace(grads))
                            .map_err(|e| LearnError::Model(Box::new(e)))?;
                        let (logits, tape) = logits.split_tape();
                        (logits, tape, None)
                    }
                    Some(forward) => {
                        let (logits, taps) = forward(&mut self.model, input.trace(grads))
                            .map_err(|e| LearnError::Model(Box::new(e)))?;
                        let (logits, mut tape) = logits.split_tape();
                        let mut values = Vec::with_capacity(taps.len());
                        for tap in taps {
                            let (tap, tap_tape) = tap.split();
                            tape = tape.merge(tap_tape);
                            values.push(tap);
                        }
                        (logits, tape, Some(values))
                    }
                };
                let forward = match &taps {
                    None => Forward::new(&input, &labels, &logits),
                    Some(taps) => Forward::new(&input, &labels, &logits).with_taps(taps),
                };
                each!(callbacks, |cb| cb.after_pred(&ctx, &forward));
                let mut loss = cross_entropy(logits.clone().put_tape(tape), &labels)?;
                for cb in callbacks.iter_mut() {
                    loss = cb.after_loss(&ctx, &forward, loss)?;
                }
                let value = loss.array();
                if !value.is_finite() {
                    return Err(LearnError::NonFiniteLoss { value, epoch, batch: batch_index });
                }
                ctx.last_loss = Some(value);
                grads = loss.try_backward()?;
                each!(callbacks, |cb| cb.before_step(&ctx, &self.model, &mut grads));
                if let Some(bad) = non_finite_gradient(&self.model, &mut grads)? {
                    return Err(LearnError::NonFiniteGradient {
                        tensor: bad.tensor,
                        index: bad.index,
                        value: bad.value,
                        loss: value,
                        epoch,
                        batch: batch_index,
                    });
                }
                self.optimizer.step(&mut self.model, &grads)?;
                each!(callbacks, |cb| cb.after_step(&ctx, &mut self.model));
                self.model.try_zero_grads(&mut grads)?;
                smooth.push(value);
                reporter.batch_done(smooth.value());
                each!(callbacks, |cb| cb.after_batch(&ctx, &self.model));
            }
            ctx.iteration = (epoch + 1) * n_batches;
            ctx.pct_train = Fraction::of(ctx.iteration, n_iterations);
            if let Some(bad) = non_finite_weight(&self.model)? {
                let batch = n_batches.saturating_sub(1);
                return Err(LearnError::NonFiniteWeight { tensor: bad.tensor, index: bad.index, value: bad.value, epoch, batch });
            }

            let validation = self.validate()?;
            let record = EpochRecord {
                epoch,
                train_loss: smooth.value() as f32,
                valid_loss: validation.loss,
                accuracy: validation.accuracy,
                metrics: validation.metrics,
                elapsed: started.elapsed(),
            };
            reporter.end_epoch(&record);
            let mut control = Control::Continue;
            for cb in callbacks.iter_mut() {
                if cb.after_epoch(&ctx, &mut self.model, &record)? == Control::Stop {
                    control = Control::Stop;
                }
            }
            history.epochs.push(record);
            if control == Control::Stop {
                break;
            }
        }
        each!(callbacks, |cb| cb.after_fit(&ctx, &mut self.model));
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::SmoothLoss;

    #[test]
    fn smooth_loss_of_a_constant_is_that_constant_and_follows_changes() {
        let mut s = SmoothLoss::default();
        assert!(s.value().is_nan(), "no batch yet");
        for _ in 0..5 {
            s.push(2.0);
        }
        assert!((s.value() - 2.0).abs() < 1e-12, "debiasing removes the pull towards 0");
        s.push(4.0);
        // (0.98·A + 0.02·4) / (1 − 0.98⁶) with A the undebiased average of five 2s.
        let a = 2.0 * (1.0 - 0.98f64.powi(5));
        let expected = (0.98 * a + 0.02 * 4.0) / (1.0 - 0.98f64.powi(6));
        assert!((s.value() - expected).abs() < 1e-12);
    }
}
