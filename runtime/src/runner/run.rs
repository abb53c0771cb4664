//! [`Runner`]: runs a `compress!` block's stages one after the other, measuring after each.

use std::sync::Arc;

use dfdx::nn::{Module, TensorCollection};
use dfdx::prelude::{Const, Cpu, Tensor};

use super::spec::{Stage, StageSpec, Training};
use crate::compress::distill::{FeaturePairs, KnowledgeDistillation};
use crate::compress::prune::{coupled_groups, group_plans, in_model_order, largest_scores, LayerPlan, PrunePlan};
use crate::compress::sparsify::{
    Context, Criteria, GlobalOptions, Granularity, SparsityReport, Sparsifier, SparsifyCallback,
};
use crate::compress::CompressError;
use crate::data::DataLoaders;
use crate::deploy::{quantize_static, Int8Model, QuantizeOptions};
use crate::learn::{BatchInput, Classifier, Learner, LrSchedule, OneCycle, Output};
use super::stage::{measure_plan, measure_stage};
use crate::measure::Report;
use crate::model::{read_tensor, Compressible, LayerKindInfo, TappedForward};
use crate::compress::quantize::QuantizeCallback;
use crate::Error;

/// Images of the training set used to calibrate the int8 activations after QAT.
pub const CALIBRATION_IMAGES: usize = 256;

/// What a `compress!` block's `compress` method returns.
pub struct Compressed<M> {
    /// The final float model (after every structural and training stage).
    pub model: M,
    /// Its int8 form, when the block ends with `quantize`.
    pub int8: Option<Int8Model<M>>,
    /// The per-layer sparsity the `sparsify` stage reached, when there is one.
    pub sparsity: Option<SparsityReport>,
    /// One row per stage, the source model first.
    pub report: Report,
}

impl<M> std::fmt::Debug for Compressed<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed")
            .field("model", &std::any::type_name::<M>())
            .field("int8", &self.int8.is_some())
            .field("sparsity", &self.sparsity)
            .field("report", &self.report)
            .finish()
    }
}

/// Parses every stage, so that a bad value fails before the first epoch.
pub fn parse_stages(specs: &[StageSpec]) -> Result<Vec<Stage>, CompressError> {
    specs.iter().map(StageSpec::parse).collect()
}

/// Runs stages on a model and keeps the report. The code `compress!` generates drives it; it is
/// public so the same steps can be written by hand.
pub struct Runner {
    name: &'static str,
    data: Arc<DataLoaders>,
    output: Output,
    report: Report,
    sparsity: Option<SparsityReport>,
}

fn wrong_stage(expected: &'static str, got: &Stage) -> Error {
    CompressError::BadStage { stage: expected, reason: format!("fasterai bug: the runner was given {got:?}") }.into()
}

impl Runner {
    /// A runner for the block named `name`, training and measuring on `data`.
    pub fn new(name: &'static str, data: impl Into<Arc<DataLoaders>>, output: Output) -> Self {
        Self { name, data: data.into(), output, report: Report::default(), sparsity: None }
    }

    /// The rows measured so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    fn learner<M, X, const K: usize>(&self, model: M) -> Learner<M, X, K>
    where
        M: Classifier<X, K>,
        X: BatchInput,
    {
        Learner::new(model, self.data.clone()).with_output(self.output)
    }

    fn say(&self, text: &str) {
        if self.output != Output::Quiet {
            println!("{}: {text}", self.name);
        }
    }

    fn measured<M, X, const K: usize>(&mut self, stage: &str, mut learn: Learner<M, X, K>) -> Result<M, Error>
    where
        M: Classifier<X, K> + Sync,
        X: BatchInput,
    {
        let row = measure_stage(stage, &mut learn)?;
        self.say(&format!(
            "after {stage}: {} parameters, {}, {} per image, {} accuracy",
            row.params, row.size, row.latency_p50, row.accuracy
        ));
        self.report.push(row);
        Ok(learn.into_model())
    }

    /// Measures `model` as the row `stage` and gives it back.
    pub fn measure<M, X, const K: usize>(&mut self, stage: &str, model: M) -> Result<M, Error>
    where
        M: Classifier<X, K> + Sync,
        X: BatchInput,
    {
        let learn = self.learner(model);
        self.measured(stage, learn)
    }

    /// After a structural stage: fine-tunes with a constant rate when the stage has epochs, then
    /// measures.
    pub fn after_structural<M, X, const K: usize>(&mut self, stage: &str, model: M, spec: &Stage) -> Result<M, Error>
    where
        M: Classifier<X, K> + Sync,
        X: BatchInput,
    {
        let training = match spec {
            Stage::Prune(p) => p.training,
            Stage::Factorize(t) => *t,
            _ => Training { epochs: 0, lr: 0.0 },
        };
        let mut learn = self.learner(model);
        if training.epochs > 0 {
            self.say(&format!("fine-tuning after {stage}: {} epoch(s) at {}", training.epochs, training.lr));
            learn.fit(training.epochs, training.lr)?;
        }
        self.measured(stage, learn)
    }

    /// `distill`: trains `model` for the stage's epochs (one-cycle, peaking at its rate) with the
    /// loss `(1 − w)·task + w·distill` against `teacher`'s logits, then measures.
    pub fn distill<M, T, X, const K: usize>(&mut self, model: M, teacher: &T, spec: &Stage) -> Result<M, Error>
    where
        M: Classifier<X, K> + Sync,
        T: Module<Tensor<X, f32, Cpu>, Output = Tensor<(usize, Const<K>), f32, Cpu>> + Clone,
        T::Error: std::error::Error + Send + Sync + 'static,
        X: BatchInput,
    {
        let Stage::Distill(d) = spec else { return Err(wrong_stage("distill", spec)) };
        let mut kd = KnowledgeDistillation::new(teacher.clone(), d.loss, d.weight)?;
        let mut learn = self.learner(model);
        self.say(&format!("distilling for {} epoch(s), one-cycle peak {}", d.training.epochs, d.training.lr));
        learn.fit_with(d.training.epochs, LrSchedule::OneCycle(OneCycle::new(d.training.lr)), &mut [&mut kd])?;
        self.measured("distill", learn)
    }

    /// `distill` with a feature loss: trains `model` (built `with_taps()`) for the stage's epochs
    /// (one-cycle, peaking at its rate) with `(1 − w)·task + w·feature_loss` between its `#[tap]`
    /// maps and `teacher`'s, paired as the stage's `pairs = ".."` names them, or by spatial size
    /// without it, then measures. The pairs are checked before the first step.
    pub fn distill_features<M, T, X, const K: usize>(&mut self, model: M, teacher: &T, spec: &Stage) -> Result<M, Error>
    where
        M: Classifier<X, K> + TappedForward<Input = X, Output = (usize, Const<K>)> + Sync,
        T: TappedForward<Input = X> + Clone,
        X: BatchInput,
    {
        let Stage::Distill(d) = spec else { return Err(wrong_stage("distill", spec)) };
        let mut kd = KnowledgeDistillation::on_features(teacher.clone(), d.loss, d.weight, d.pairs.clone())?;
        let mut learn = self.learner(model).with_taps();
        let pairs = match &d.pairs {
            FeaturePairs::Named(named) => named.iter().map(|(s, t)| format!("{s} -> {t}")).collect::<Vec<_>>().join(", "),
            FeaturePairs::BySpatialSize => "paired by spatial size".to_string(),
        };
        self.say(&format!(
            "distilling {} feature maps ({pairs}) for {} epoch(s), one-cycle peak {}",
            d.loss.name(),
            d.training.epochs,
            d.training.lr
        ));
        learn.fit_with(d.training.epochs, LrSchedule::OneCycle(OneCycle::new(d.training.lr)), &mut [&mut kd])?;
        self.measured("distill", learn)
    }

    /// `sparsify`: trains with a [`SparsifyCallback`] (masks re-applied after every step) at the
    /// stage's constant rate until the target sparsity, then measures. A global context uses
    /// [`GlobalOptions::balanced`].
    pub fn sparsify<M, X, const K: usize>(&mut self, model: M, spec: &Stage) -> Result<M, Error>
    where
        M: Classifier<X, K> + Compressible + Sync,
        X: BatchInput,
    {
        let Stage::Sparsify(s) = spec else { return Err(wrong_stage("sparsify", spec)) };
        let context = if s.global { Context::Global(GlobalOptions::balanced()) } else { Context::Local };
        let sparsifier =
            Sparsifier::new(s.sparsity, Granularity::Conv(s.granularity), context, Criteria::new(s.criterion));
        let mut callback = SparsifyCallback::<M>::new(sparsifier, s.schedule.clone())?.with_output(self.output);
        let mut learn = self.learner(model);
        self.say(&format!("sparsifying to {} over {} epoch(s) at {}", s.sparsity, s.training.epochs, s.training.lr));
        learn.fit_with(s.training.epochs, LrSchedule::Constant { lr: s.training.lr }, &mut [&mut callback])?;
        self.sparsity = Some(callback.report().clone());
        self.measured("sparsify", learn)
    }

    /// The channels a `prune` stage keeps, for the widths of the pruned type `P`: the channels
    /// whose filters are not all zero when their count fits (a `sparsify` stage zeroed the rest, so
    /// the pruned model computes what the sparse one did), otherwise the `P`-width largest filters
    /// of each layer by L1 norm.
    pub fn prune_plan<M, P>(&self, model: &M, spec: &Stage) -> Result<PrunePlan, Error>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
        P: Compressible,
    {
        let Stage::Prune(_) = spec else { return Err(wrong_stage("prune", spec)) };
        let zero_filters = PrunePlan::from_model(model)?;
        let mut layers = Vec::new();
        for coupling in M::COUPLINGS {
            let Some(width) = out_width::<P>(coupling.producer) else { continue };
            let from_zeros = zero_filters.get(coupling.producer).filter(|l| l.new_width() == width);
            let layer = match from_zeros {
                Some(plan) => plan.clone(),
                None => largest_filters(model, coupling.producer, width)?,
            };
            layers.push(layer);
        }
        // The skip connections' channels: every member of a group keeps the same ones.
        for group in coupled_groups::<M>() {
            let Some(width) = out_width::<P>(group.producers[0]) else { continue };
            let from_zeros = zero_filters.get(group.producers[0]).filter(|l| l.new_width() == width);
            match from_zeros {
                Some(plan) => layers.extend(group.producers.iter().map(|p| LayerPlan { name: p.to_string(), ..plan.clone() })),
                None => layers.extend(group_plans(model, group, width)?),
            }
        }
        in_model_order::<M>(&mut layers);
        Ok(PrunePlan::new(layers)?)
    }

    /// `quantize`: quantization-aware training for the stage's epochs (weights on the int8 grid in
    /// the forward pass, straight-through gradients), then int8 conversion calibrated on up to
    /// [`CALIBRATION_IMAGES`] training images; measures the float model after QAT.
    pub fn quantize<M, X, const K: usize>(&mut self, model: M, spec: &Stage) -> Result<(M, Int8Model<M>), Error>
    where
        M: Classifier<X, K> + Compressible + Send + Sync,
        X: BatchInput,
    {
        let Stage::Quantize(training) = spec else { return Err(wrong_stage("quantize", spec)) };
        let mut learn = self.learner(model);
        if training.epochs > 0 {
            let mut qat = QuantizeCallback::new();
            self.say(&format!("quantization-aware training: {} epoch(s) at {}", training.epochs, training.lr));
            learn.fit_with(training.epochs, LrSchedule::OneCycle(OneCycle::new(training.lr)), &mut [&mut qat])?;
        }
        let train = &self.data.train;
        let n = train.len().min(CALIBRATION_IMAGES);
        let calibration: Vec<f32> = (0..n).flat_map(|i| train.image(i).iter().copied()).collect();
        let mut int8 = quantize_static(learn.model(), &calibration, n, QuantizeOptions::default())?;
        let model = self.measured("quantize (float after QAT)", learn)?;
        let row = measure_plan("int8", &mut int8, &self.data.valid)?;
        self.say(&format!("int8: {}, {} per image, {} accuracy", row.size, row.latency_p50, row.accuracy));
        self.report.push(row);
        Ok((model, int8))
    }

    /// Ends the run: prints the report and hands back the model, its int8 form and the report.
    pub fn finish<M>(self, model: M, int8: Option<Int8Model<M>>) -> Compressed<M> {
        if self.output != Output::Quiet {
            println!("{}: done.\n{}", self.name, self.report);
        }
        Compressed { model, int8, sparsity: self.sparsity, report: self.report }
    }
}

/// The output width of layer `name` in `P`, if it is a convolution or a linear layer.
fn out_width<P: Compressible>(name: &str) -> Option<usize> {
    match P::layer(name)?.kind {
        LayerKindInfo::Conv2D { out_channels, .. } => Some(out_channels),
        LayerKindInfo::Linear { out_features, .. } => Some(out_features),
        _ => None,
    }
}

/// Keeps the `width` filters (rows) of `layer` with the largest L1 norm, in their original order.
fn largest_filters<M: TensorCollection<f32, Cpu>>(model: &M, layer: &str, width: usize) -> Result<LayerPlan, Error> {
    let weight = read_tensor(model, &format!("{layer}.weight"))?;
    let outputs = weight.shape[0];
    let per_output = weight.numel() / outputs.max(1);
    let l1: Vec<f64> = weight.data.chunks(per_output).map(|f| f.iter().map(|&v| f64::from(v.abs())).sum()).collect();
    Ok(LayerPlan { name: layer.to_string(), width: outputs, kept: largest_scores(&l1, width) })
}
