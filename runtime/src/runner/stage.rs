//! One report row for a model held by a [`Learner`]: parameters, size on disk, single-image
//! latency and validation accuracy, as every compression stage records them.

use dfdx::prelude::Cpu;

use crate::measure::{cpu_latency, model_size, num_params, Accuracy, Latency, LatencyOptions, MeasureError, ReportRow};
use crate::learn::{BatchInput, Classifier, LearnError, Learner};

/// Timed single-image runs per latency measurement (after the default warm-up).
pub const STAGE_LATENCY_RUNS: usize = 100;

/// Why a stage could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum StageMeasureError {
    /// Validation or input preparation failed.
    #[error(transparent)]
    Learn(#[from] LearnError),
    /// Size or latency could not be measured.
    #[error(transparent)]
    Measure(#[from] MeasureError),
}

/// The median latency of `learn`'s model on the first validation image, in rayon's default pool
/// (one thread per core), over `runs` timed runs.
pub fn single_image_latency<M, X, const K: usize>(learn: &Learner<M, X, K>, runs: usize) -> Result<Latency, StageMeasureError>
where
    M: Classifier<X, K> + Sync,
    X: BatchInput,
{
    let valid = &learn.data().valid;
    let image = X::from_images(learn.device(), valid.image(0).to_vec(), valid.shape())?;
    let model = learn.model();
    let options = LatencyOptions::default().runs(runs);
    Ok(cpu_latency(|x| model.try_forward(x.clone()), &image, &options)?)
}

/// `stage`'s row for `learn`'s model: trainable parameters, safetensors bytes, p50 batch-1
/// latency over [`STAGE_LATENCY_RUNS`] runs, validation accuracy. The notes give the thread count.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::data::{digits, DataLoaders};
/// use fasterai_runtime::runner::measure_stage;
/// let (train, valid) = digits(0.2, 0)?;
/// let model = Linear::<64, 10>::build(&Cpu::default());
/// let mut learn: Learner<_, (usize, Const<64>), 10> = Learner::new(model, DataLoaders::new(train, valid, 64, 0))
///     .with_output(Output::Quiet);
/// let row = measure_stage("untrained", &mut learn)?;
/// assert_eq!((row.stage.as_str(), row.params), ("untrained", 650));
/// # Ok::<(), fasterai_runtime::Error>(())
/// ```
pub fn measure_stage<M, X, const K: usize>(stage: &str, learn: &mut Learner<M, X, K>) -> Result<ReportRow, StageMeasureError>
where
    M: Classifier<X, K> + Sync,
    X: BatchInput,
{
    let accuracy = Accuracy::from_fraction(learn.validate()?.accuracy.get())?;
    let params = num_params::<f32, Cpu, M>(learn.model());
    let size = model_size::<f32, Cpu, M>(learn.model())?;
    let latency = single_image_latency(learn, STAGE_LATENCY_RUNS)?;
    Ok(ReportRow::new(stage, params, size, latency.p50, accuracy).with_notes(format!("{} threads", latency.threads)))
}

/// `stage`'s row for a frozen inference plan (an accelerated fp32 plan or an int8 model): 0
/// trainable parameters (the values it stores are in the notes), its size, p50 latency on the
/// first image of `valid` over [`STAGE_LATENCY_RUNS`] runs on one thread, and its accuracy on `valid`.
pub fn measure_plan<P: crate::deploy::InferencePlan>(
    stage: &str,
    plan: &mut P,
    valid: &crate::data::Dataset,
) -> Result<ReportRow, crate::Error> {
    let accuracy = plan.accuracy(valid)?;
    let size = plan.size_bytes()?;
    let image = valid.image(0).to_vec();
    let mut failure = None;
    let options = LatencyOptions::default().runs(STAGE_LATENCY_RUNS).threads(1);
    let latency = cpu_latency(
        |x: &[f32]| {
            if let Err(e) = plan.run(x) {
                failure.get_or_insert(e);
            }
        },
        image.as_slice(),
        &options,
    )?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    let notes = format!("frozen plan: 0 trainable, {} stored values, 1 thread", plan.parameters());
    Ok(ReportRow::new(stage, 0, size, latency.p50, accuracy).with_notes(notes))
}
