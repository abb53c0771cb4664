//! `SparsifyCallback`: reach a target sparsity over training, following a [`SparsitySchedule`].
//!
//! On the [`Learner`](crate::learn::Learner)'s hooks:
//! - `before_fit`: resets the schedule, checks the lottery-ticket settings against the number of
//!   epochs, keeps the initial weights for init-based criteria and the weights for the `updating_*`
//!   ones;
//! - `before_epoch`: at the lottery-ticket rewind epoch, keeps the weights;
//! - `before_batch`: evaluates the schedule at `pct_train`; when the scheduled sparsity changed,
//!   recomputes the masks at `target · progress`, applies them (and, for a lottery ticket, rewinds
//!   the surviving weights);
//! - `before_step`: for `taylor` criteria, keeps the gradient of the chosen layers when the schedule
//!   will move at the end of this step;
//! - `after_step`: applies the masks again after **every** optimizer step, since the step moves
//!   pruned weights (and the bias and BatchNorm entries of pruned filters) off zero; first it
//!   evaluates the schedule at the `pct_train` this step reached, as the next `before_batch` would,
//!   so the last step of training ends at the schedule's final value (`pct_train` = 1), before the
//!   last validation, which the batches' own `pct_train` never reaches;
//! - `after_epoch`: measures the sparsity of each layer, prints it unless the output is quiet
//!   (`Sparsity in conv3: 62.30%`), and keeps it ([`SparsifyCallback::report`],
//!   [`SparsifyCallback::history`]);
//! - `after_fit`: the lottery ticket's final rewind (`reset_end`).
//!
//! With an activation criterion (`wanda`), the masks need what each layer receives. Unless the
//! sparsifier carries its own images ([`Sparsifier::with_calibration`]), the callback calibrates on
//! the training data the learner hands it: `before_batch` keeps the last `n` training batches
//! (default 5, [`SparsifyCallback::calibration_batches`]; the batch about to be trained on
//! included), and every time the schedule moves, the masks are recomputed from the norms of those
//! batches run through the model's fp32 inference plan ([`input_norms`](super::input_norms)). So
//! the norms follow the weights as they train, at the cost of one inference pass over the window
//! per schedule change; on the first change of a fit the window holds the batches seen so far (at
//! least the current one). The window is emptied in `before_fit`.
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{
//!     Context, ConvGranularity, Criteria, Criterion, Granularity, SparsitySchedule, Sparsifier, SparsifyCallback,
//! };
//! use fasterai_runtime::compress::CompressError;
//! use fasterai_runtime::model::Compressible;
//! use fasterai_runtime::units::Sparsity;
//!
//! /// 50% of the filters, local, by |W|, on a cosine schedule.
//! fn half_filters<M: Compressible>() -> Result<SparsifyCallback<M>, CompressError> {
//!     let sparsifier = Sparsifier::new(
//!         Sparsity::from_percent(50.0).expect("50% is a sparsity"),
//!         Granularity::Conv(ConvGranularity::Filter),
//!         Context::Local,
//!         Criteria::new(Criterion::LargeFinal),
//!     );
//!     SparsifyCallback::new(sparsifier, SparsitySchedule::cos())
//! }
//! // then: Learner::new(model, data).with_callback(half_filters()?)
//! ```

use std::marker::PhantomData;
use std::num::NonZeroUsize;

use dfdx::nn::TensorCollection;
use dfdx::prelude::{Cpu, Gradients, Shape};

use super::calibration::CalibrationWindow;
use super::lottery::{LotteryTicket, Snapshot};
use super::mask::SparsityReport;
use super::sparsity_schedule::{ProgressTracker, SparsitySchedule};
use super::sparsifier::{apply_masks, report, uses_gradient, weights_of, Sparsifier};
use super::target::SparsifyTarget;
use crate::compress::CompressError;
use crate::learn::{Callback, Context, Control, EpochRecord, Fraction, LearnError, Output};
use crate::model::Compressible;
use crate::nn::walk::walk_gradients;
use crate::units::Sparsity;

/// Sparsifies a model during training (see the [module docs](self)).
pub struct SparsifyCallback<M> {
    sparsifier: Sparsifier,
    targets: Vec<SparsifyTarget>,
    tracker: ProgressTracker,
    lottery: Option<LotteryTicket>,
    snapshot: Option<Snapshot>,
    output: Output,
    report: SparsityReport,
    history: Vec<SparsityReport>,
    window: Option<CalibrationWindow>,
    _model: PhantomData<fn(&M)>,
}

// By hand: derives would ask `M: Debug` and `M: Clone`, which the callback does not need.
impl<M> std::fmt::Debug for SparsifyCallback<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparsifyCallback")
            .field("sparsifier", &self.sparsifier)
            .field("targets", &self.targets)
            .field("tracker", &self.tracker)
            .field("lottery", &self.lottery)
            .field("output", &self.output)
            .field("report", &self.report)
            .field("window", &self.window.as_ref().map(CalibrationWindow::capacity))
            .finish_non_exhaustive()
    }
}

impl<M> Clone for SparsifyCallback<M> {
    fn clone(&self) -> Self {
        Self {
            sparsifier: self.sparsifier.clone(),
            targets: self.targets.clone(),
            tracker: self.tracker.clone(),
            lottery: self.lottery,
            snapshot: self.snapshot.clone(),
            output: self.output,
            report: self.report.clone(),
            history: self.history.clone(),
            window: self.window.clone(),
            _model: PhantomData,
        }
    }
}

impl<M: Compressible> SparsifyCallback<M> {
    /// A callback that brings `sparsifier`'s layers to their targets along `schedule`. Checks every
    /// setting against `M` now (unknown layers, N:M on a layer whose input channels do not divide,
    /// per-layer targets with a global context), so mistakes surface before training.
    pub fn new(sparsifier: Sparsifier, schedule: SparsitySchedule) -> Result<Self, CompressError> {
        let targets = sparsifier.targets::<M>()?;
        let calibrates = sparsifier.criteria().criterion.needs_activations() && sparsifier.calibration().is_none();
        let window = calibrates.then(|| CalibrationWindow::new(CalibrationWindow::DEFAULT_BATCHES));
        Ok(Self {
            sparsifier,
            targets,
            tracker: ProgressTracker::new(schedule),
            lottery: None,
            snapshot: None,
            output: Output::Auto,
            report: SparsityReport::default(),
            history: Vec::new(),
            window,
            _model: PhantomData,
        })
    }

    /// With an activation criterion and no images of the sparsifier's own: calibrate on the last
    /// `n` training batches (default 5). Without one, this does nothing.
    pub fn calibration_batches(self, n: NonZeroUsize) -> Self {
        Self { window: self.window.map(|_| CalibrationWindow::new(n)), ..self }
    }

    /// The training batches the next mask computation will calibrate on (see the
    /// [module docs](self)); `None` unless the criterion needs activations and the sparsifier has
    /// no images of its own.
    pub fn calibration_window(&self) -> Option<&CalibrationWindow> {
        self.window.as_ref()
    }

    /// Turns the run into a lottery-ticket search (see [`LotteryTicket`]); the rewind epoch is
    /// checked against the schedule when training starts.
    pub fn lottery_ticket(self, ticket: LotteryTicket) -> Self {
        Self { lottery: Some(ticket), ..self }
    }

    /// Whether to print the per-layer sparsity after each epoch: pass the learner's own
    /// [`Output`]; [`Output::Quiet`] prints nothing (the reports stay in [`SparsifyCallback::history`]).
    pub fn with_output(self, output: Output) -> Self {
        Self { output, ..self }
    }

    /// The sparsity of each layer, measured at the end of the last epoch (or when training ended).
    pub fn report(&self) -> &SparsityReport {
        &self.report
    }

    /// One report per epoch of the last fit.
    pub fn history(&self) -> &[SparsityReport] {
        &self.history
    }

    /// The layers being sparsified, with their final targets.
    pub fn targets(&self) -> &[SparsifyTarget] {
        &self.targets
    }

    /// The sparsifier, whose [`Sparsifier::masks`] are the masks in force.
    pub fn sparsifier(&self) -> &Sparsifier {
        &self.sparsifier
    }

    /// The sparsity the schedule asks for now, for layers whose final target is `target`.
    pub fn scheduled(&self, target: Sparsity) -> Sparsity {
        target.scaled(self.tracker.applied())
    }
}

impl<M: Compressible + TensorCollection<f32, Cpu>> SparsifyCallback<M> {
    /// Evaluates the schedule at `pct_train`; when it moved, recomputes and applies the masks (and
    /// rewinds a lottery ticket's survivors) and returns true.
    fn follow_schedule(&mut self, pct_train: Fraction, model: &mut M) -> Result<bool, CompressError> {
        let Some(progress) = self.tracker.advance(pct_train.get()) else {
            return Ok(false);
        };
        let calibration = self.window.as_ref().and_then(CalibrationWindow::images);
        self.sparsifier.sparsify(model, &self.targets, progress, calibration.as_ref())?;
        if let (Some(_), Some(snapshot)) = (self.lottery, &self.snapshot) {
            snapshot.rewind(model, self.sparsifier.masks())?;
        }
        Ok(true)
    }
}

fn fail(e: CompressError) -> LearnError {
    LearnError::callback("sparsify", e)
}

impl<M, X: Shape, const K: usize> Callback<M, X, K> for SparsifyCallback<M>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    fn name(&self) -> &str {
        "sparsify"
    }

    fn before_fit(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        if let Some(ticket) = self.lottery {
            ticket.check(self.tracker.schedule(), ctx.n_epochs).map_err(fail)?;
        }
        self.tracker.reset();
        self.snapshot = None;
        self.history.clear();
        if let Some(window) = &mut self.window {
            window.clear();
        }
        let criterion = self.sparsifier.criteria().criterion;
        let memory = &mut self.sparsifier.memory;
        *memory = Default::default();
        if criterion.needs_init() {
            memory.init = weights_of(model, &self.targets).map_err(fail)?;
        }
        if criterion.needs_previous() {
            memory.previous = weights_of(model, &self.targets).map_err(fail)?;
        }
        self.sparsifier.clear_masks();
        self.report = report(model, &self.targets).map_err(fail)?;
        Ok(())
    }

    fn before_epoch(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        if self.lottery.is_some_and(|t| t.rewind_epoch == ctx.epoch) {
            let snapshot = Snapshot::take(model, &self.targets).map_err(fail)?;
            if self.sparsifier.criteria().criterion.needs_init() {
                for t in &self.targets {
                    if let Some(w) = snapshot.weight(t.name) {
                        self.sparsifier.memory.init.insert(t.name, w.to_vec());
                    }
                }
            }
            self.snapshot = Some(snapshot);
        }
        Ok(())
    }

    fn before_batch(&mut self, ctx: &Context, model: &mut M, batch: &crate::data::Batch) -> Result<(), LearnError> {
        if let Some(window) = &mut self.window {
            window.push(&batch.images, batch.len());
        }
        self.follow_schedule(ctx.pct_train, model).map(|_| ()).map_err(fail)
    }

    fn before_step(&mut self, ctx: &Context, model: &M, grads: &mut Gradients<f32, Cpu>) -> Result<(), LearnError> {
        if !uses_gradient(self.sparsifier.criteria().criterion) {
            return Ok(());
        }
        let next = Fraction::of(ctx.iteration + 1, ctx.n_iterations).get();
        if self.tracker.schedule().progress(next) == self.tracker.applied() {
            return Ok(());
        }
        let wanted: Vec<(String, &'static str)> = self.targets.iter().map(|t| (t.weight_name(), t.name)).collect();
        let layer_of = |name: &str| wanted.iter().find(|(n, _)| n == name).map(|(_, layer)| *layer);
        let mut found: Vec<(&'static str, Vec<f32>)> = Vec::new();
        walk_gradients(model, grads, |name, _| layer_of(name).is_some(), |name, gradient| {
            if let Some(layer) = layer_of(&name) {
                found.push((layer, gradient.to_vec()));
            }
        })
        .map_err(|e| fail(e.into()))?;
        self.sparsifier.memory.gradient = found.into_iter().collect();
        Ok(())
    }

    fn after_step(&mut self, ctx: &Context, model: &mut M) -> Result<(), LearnError> {
        let reached = Fraction::of(ctx.iteration + 1, ctx.n_iterations);
        if self.follow_schedule(reached, model).map_err(fail)? || self.sparsifier.masks().is_empty() {
            return Ok(());
        }
        apply_masks(model, self.sparsifier.masks()).map_err(fail)
    }

    fn after_epoch(&mut self, _: &Context, model: &mut M, _: &EpochRecord) -> Result<Control, LearnError> {
        self.report = report(model, &self.targets).map_err(fail)?;
        if self.output != Output::Quiet {
            print!("{}", self.report);
        }
        self.history.push(self.report.clone());
        Ok(Control::Continue)
    }

    fn after_fit(&mut self, _: &Context, model: &mut M) -> Result<(), LearnError> {
        if let (Some(ticket), Some(snapshot)) = (self.lottery, &self.snapshot) {
            if ticket.reset_end {
                snapshot.rewind(model, self.sparsifier.masks()).map_err(fail)?;
                self.report = report(model, &self.targets).map_err(fail)?;
            }
        }
        Ok(())
    }
}
