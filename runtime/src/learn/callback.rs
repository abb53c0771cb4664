//! Training hooks: a narrow trait with no-op defaults; decisions come back as values.

use dfdx::prelude::{Const, Cpu, Gradients, OwnedTape, Rank0, Shape, Tensor};

use super::{EpochRecord, Fraction, LearnError};

/// What a callback decides after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Keep training.
    #[default]
    Continue,
    /// Stop after this epoch (the epoch is recorded and `after_fit` still runs).
    Stop,
}

/// Where training stands when a hook runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// Current epoch, from 0.
    pub epoch: usize,
    /// Epochs of this fit.
    pub n_epochs: usize,
    /// Batch index within the epoch, from 0.
    pub batch: usize,
    /// Training batches per epoch.
    pub n_batches: usize,
    /// Optimizer steps taken so far in this fit.
    pub iteration: usize,
    /// Optimizer steps this fit will take (`n_epochs · n_batches`).
    pub n_iterations: usize,
    /// Share of training done: `iteration / n_iterations` (fastai's `pct_train`).
    pub pct_train: Fraction,
    /// Learning rate of the current step.
    pub lr: f64,
    /// Momentum of the current step (Adam's β1), `None` for SGD without momentum.
    pub momentum: Option<f64>,
    /// The last training loss, after every callback's change (`None` before the first batch).
    pub last_loss: Option<f32>,
}

/// What one training forward pass produced, handed to [`Callback::after_pred`] and [`Callback::after_loss`].
pub struct Forward<'a, X: Shape, const K: usize> {
    pub(crate) input: &'a Tensor<X, f32, Cpu>,
    pub(crate) labels: &'a [usize],
    pub(crate) logits: &'a Tensor<(usize, Const<K>), f32, Cpu>,
}

impl<X: Shape, const K: usize> Forward<'_, X, K> {
    /// The batch's input, without a tape (run a teacher on it).
    pub fn input(&self) -> &Tensor<X, f32, Cpu> {
        self.input
    }

    /// The batch's labels.
    pub fn labels(&self) -> &[usize] {
        self.labels
    }

    /// The model's logits, values only.
    pub fn logits(&self) -> &Tensor<(usize, Const<K>), f32, Cpu> {
        self.logits
    }

    /// The model's logits on a fresh tape: a loss term built from this and added to the loss
    /// passed to [`Callback::after_loss`] back-propagates into the model (dfdx merges the tapes;
    /// both branches share the logits' id, so their gradients add up).
    pub fn logits_on_tape(&self) -> Tensor<(usize, Const<K>), f32, Cpu, OwnedTape<f32, Cpu>> {
        self.logits.retaped()
    }
}

/// A training loss on the tape, as [`Callback::after_loss`] receives and returns it.
pub type TapedLoss = Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>>;

/// Hooks into [`crate::learn::Learner`]'s loop, for model `M` taking batches of shape `X` and giving `K` logits.
///
/// Every method has a no-op default; implement only those you need. Several callbacks run in the
/// order they were added. The order of one training step is: `before_batch` → forward →
/// `after_pred` → loss → `after_loss` → backward → `before_step` → optimizer step → `after_step`
/// → `after_batch`. Each epoch ends with validation and then `after_epoch`, whose [`Control`]
/// can stop training.
///
/// ```
/// use fasterai_runtime::learn::{Callback, Context, Control, EpochRecord, LearnError};
/// /// Stops once validation accuracy reaches a target.
/// struct StopAt(f64);
/// impl<M, X: fasterai_runtime::dfdx::prelude::Shape, const K: usize> Callback<M, X, K> for StopAt {
///     fn after_epoch(&mut self, _: &Context, _: &mut M, record: &EpochRecord) -> Result<Control, LearnError> {
///         Ok(if record.accuracy.get() >= self.0 { Control::Stop } else { Control::Continue })
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Callback<M, X: Shape, const K: usize> {
    /// A name for error messages and reports.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Once, before the first epoch.
    fn before_fit(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        Ok(())
    }

    /// At the start of every epoch.
    fn before_epoch(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        Ok(())
    }

    /// Before each training batch's forward pass; may edit the weights (e.g. apply a new mask).
    fn before_batch(&mut self, ctx: &Context, model: &mut M, batch: &crate::data::Batch) -> Result<(), LearnError> {
        Ok(())
    }

    /// After the forward pass, before the loss.
    fn after_pred(&mut self, ctx: &Context, forward: &Forward<'_, X, K>) -> Result<(), LearnError> {
        Ok(())
    }

    /// After the loss; returns the loss to back-propagate (the default returns it unchanged).
    /// Add terms built from [`Forward::logits_on_tape`] so they reach the model's gradients.
    fn after_loss(
        &mut self,
        ctx: &Context,
        forward: &Forward<'_, X, K>,
        loss: TapedLoss,
    ) -> Result<TapedLoss, LearnError> {
        Ok(loss)
    }

    /// After backward, before the optimizer step; may edit the gradients.
    fn before_step(&mut self, ctx: &Context, model: &M, grads: &mut Gradients<f32, Cpu>) -> Result<(), LearnError> {
        Ok(())
    }

    /// After the optimizer step; may edit the weights (e.g. re-apply sparsity masks).
    fn after_step(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        Ok(())
    }

    /// At the end of each training batch; `ctx.last_loss` holds its loss.
    fn after_batch(&mut self, ctx: &Context, model: &M) -> Result<(), LearnError> {
        Ok(())
    }

    /// After each epoch's validation; [`Control::Stop`] ends training after this epoch.
    fn after_epoch(&mut self, ctx: &Context, model: &mut M, record: &EpochRecord) -> Result<Control, LearnError> {
        Ok(Control::Continue)
    }

    /// Once, after the last epoch (also after a [`Control::Stop`], not after an error).
    fn after_fit(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        Ok(())
    }
}
