//! Training hooks: a narrow trait with no-op defaults; decisions come back as values.

use dfdx::prelude::{Const, Cpu, Gradients, OwnedTape, Rank0, Shape, Tensor};

use super::{EpochRecord, Fraction, LearnError};
use crate::model::{FeatureMap, Tap};

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
///
/// A distillation-style callback runs a teacher on [`Forward::input`] and adds a term built on
/// [`Forward::logits_on_tape`] to the loss:
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::dfdx::{losses::mse_loss, prelude::Const};
/// use fasterai_runtime::data::{DataLoaders, Dataset};
/// use fasterai_runtime::learn::{Forward, TapedLoss};
///
/// type Flat2 = (usize, Const<2>);
/// /// Trains the student to imitate a teacher: the loss becomes MSE(student logits, teacher logits).
/// struct Imitate { teacher: Linear<2, 2> }
/// impl<M> Callback<M, Flat2, 2> for Imitate {
///     fn after_loss(&mut self, _: &Context, fwd: &Forward<'_, Flat2, 2>, loss: TapedLoss) -> Result<TapedLoss, LearnError> {
///         let target = self.teacher.try_forward(fwd.input().clone()).map_err(|e| LearnError::callback("imitate", e))?;
///         Ok(loss * 0.0 + mse_loss(fwd.logits_on_tape(), target))
///     }
/// }
///
/// let points: Vec<f32> = (0..32).flat_map(|i| [(i % 4) as f32 - 1.5, (i / 8) as f32 - 1.5]).collect();
/// let set = Dataset::new(points, vec![0; 16].into_iter().chain(vec![1; 16]).collect(), [1, 1, 2], 2).unwrap();
/// let teacher = Linear::<2, 2>::build(&Cpu::seed_from_u64(1));
/// let student = Linear::<2, 2>::build(&Cpu::seed_from_u64(2));
/// let gap = |s: &Linear<2, 2>| s.weight.as_vec().iter().zip(teacher.weight.as_vec()).map(|(a, b)| (a - b).abs()).sum::<f32>();
/// let before = gap(&student);
///
/// let mut learn: Learner<_, Flat2, 2> = Learner::new(student, DataLoaders::new(set.clone(), set, 4, 0))
///     .with_output(Output::Quiet)
///     .with_callback(Imitate { teacher: teacher.clone() });
/// learn.fit_one_cycle(20, 1e-1).unwrap();
/// assert!(gap(learn.model()) < before / 10.0, "the student's weights moved to the teacher's");
/// ```
pub struct Forward<'a, X: Shape, const K: usize> {
    input: &'a Tensor<X, f32, Cpu>,
    labels: &'a [usize],
    logits: &'a Tensor<(usize, Const<K>), f32, Cpu>,
    taps: Option<&'a [Tap]>,
}

impl<'a, X: Shape, const K: usize> Forward<'a, X, K> {
    /// Bundles a batch's input, labels and the model's logits (the learner builds this; a
    /// callback's unit tests may too). `logits` must be the forward pass's own output, detached
    /// from its tape with `split_tape`, for [`Forward::logits_on_tape`] to reach the model.
    pub fn new(
        input: &'a Tensor<X, f32, Cpu>,
        labels: &'a [usize],
        logits: &'a Tensor<(usize, Const<K>), f32, Cpu>,
    ) -> Self {
        Self { input, labels, logits, taps: None }
    }

    /// Adds the model's tapped activations, values only: the learner does this when built with
    /// [`crate::learn::Learner::with_taps`]. Like the logits, each must be the forward pass's own
    /// tensor detached from its tape, for [`Forward::tap`] to reach the model.
    pub fn with_taps(mut self, taps: &'a [Tap]) -> Self {
        self.taps = Some(taps);
        self
    }

    /// The model's taps (values only), `None` when the learner was not built with taps.
    pub fn taps(&self) -> Option<&'a [Tap]> {
        self.taps
    }

    /// The tapped layers' names, in forward order (none when the learner was not built with taps).
    pub fn tap_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.taps.unwrap_or_default().iter().map(|tap| tap.name)
    }

    /// The activation of the tapped layer `name`, `(batch, C, H, W)`, on a fresh tape, like
    /// [`Forward::logits_on_tape`]: a loss term built from it and added to the loss passed to
    /// [`Callback::after_loss`] back-propagates through every layer before the tap. `None` for an
    /// unknown name or a learner built without taps.
    pub fn tap(&self, name: &str) -> Option<FeatureMap<OwnedTape<f32, Cpu>>> {
        self.taps?.iter().find(|tap| tap.name == name).map(|tap| tap.map.retaped())
    }

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

    /// Whether the callback reads the model's `#[tap]` activations ([`Forward::tap`]). When one does,
    /// training refuses to start unless the learner was built with
    /// [`crate::learn::Learner::with_taps`] ([`LearnError::TapsRequired`], before `before_fit`).
    fn needs_taps(&self) -> bool {
        false
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
