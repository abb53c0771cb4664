//! The walkthrough's stages, one function each: load the data, show the model, measure it, train
//! it, save the report. `main.rs` strings them together; `tests/walkthrough_digits.rs` runs the same
//! functions on a short schedule. Compression stages are added here as further functions that take
//! the trained model and push one more row into the report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fasterai::data::DataLoaders;
use fasterai::learn::{BatchInput, Classifier};
use fasterai::measure::{Accuracy, Latency, MeasureError};
use fasterai::prelude::*;

/// Classes of every dataset the walkthrough knows (digits 0–9, MNIST, Fashion-MNIST).
pub const CLASSES: usize = 10;

/// Share of the digits set held out for validation.
const DIGITS_VALID_SHARE: f64 = 0.2;

/// Timed single-image runs per latency measurement (after 10 untimed ones).
const LATENCY_RUNS: usize = 100;

/// The file name of the saved report inside the output directory.
pub const REPORT_FILE: &str = "report.json";

/// Which images the walkthrough trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetChoice {
    /// The 8×8 digits embedded in the crate (needs nothing but cargo).
    Digits,
    /// MNIST, 28×28 handwritten digits, from a directory of IDX files.
    Mnist,
    /// Fashion-MNIST, 28×28 clothing pictures, from a directory of IDX files.
    FashionMnist,
}

impl DatasetChoice {
    /// Every choice with the name `--dataset` accepts.
    pub const ALL: [(&'static str, DatasetChoice); 3] =
        [("digits", Self::Digits), ("mnist", Self::Mnist), ("fashion-mnist", Self::FashionMnist)];

    /// The choice called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, d)| d)
    }

    /// The name `--dataset` accepts for this choice.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, d)| *d == self).map_or("?", |(n, _)| n)
    }

    /// Where `scripts/fetch-data.sh` puts this set (`None` for the embedded digits).
    pub fn default_dir(self) -> Option<PathBuf> {
        match self {
            Self::Digits => None,
            Self::Mnist => Some(PathBuf::from("data/mnist")),
            Self::FashionMnist => Some(PathBuf::from("data/fashion-mnist")),
        }
    }
}

/// Everything a run depends on; [`Settings::defaults`] gives the values tuned for each dataset.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The images to train on.
    pub dataset: DatasetChoice,
    /// The IDX directory of the 28×28 sets (ignored for digits).
    pub data_dir: Option<PathBuf>,
    /// Epochs of one-cycle training.
    pub epochs: usize,
    /// Train on this many training images, drawn at random from `seed` (`None`: all of them).
    pub train_subset: Option<usize>,
    /// Images per batch.
    pub batch_size: usize,
    /// Seeds the weights, the split, the subset and the shuffling.
    pub seed: u64,
    /// Peak learning rate of the one-cycle schedule.
    pub lr_max: f64,
    /// Where the report is written.
    pub out_dir: PathBuf,
    /// How much the learner prints while training.
    pub output: Output,
}

impl Settings {
    /// The defaults for `dataset`: 8 epochs at a peak rate of 1e-2 for the small digits CNN, 3 epochs
    /// at 2e-3 for SmallVgg on the 28×28 sets; batches of 64; seed 42; the report under
    /// `target/walkthrough/`.
    pub fn defaults(dataset: DatasetChoice) -> Self {
        let (epochs, lr_max) = match dataset {
            DatasetChoice::Digits => (8, 1e-2),
            DatasetChoice::Mnist | DatasetChoice::FashionMnist => (3, 2e-3),
        };
        Self {
            dataset,
            data_dir: dataset.default_dir(),
            epochs,
            train_subset: None,
            batch_size: 64,
            seed: 42,
            lr_max,
            out_dir: PathBuf::from("target/walkthrough"),
            output: Output::Auto,
        }
    }
}

/// Stage 1: the training and validation images, normalised, in shuffled batches.
pub fn load_data(settings: &Settings) -> Result<DataLoaders> {
    let (mut train, valid) = match settings.dataset {
        DatasetChoice::Digits => digits(DIGITS_VALID_SHARE, settings.seed)?,
        DatasetChoice::Mnist => mnist_dir(idx_dir_of(settings))?,
        DatasetChoice::FashionMnist => fashion_mnist_dir(idx_dir_of(settings))?,
    };
    if let Some(n) = settings.train_subset {
        train = train.subset(n, settings.seed)?;
    }
    println!(
        "Data: {} — {} training and {} validation images of {:?} (channels, height, width), {} classes.",
        settings.dataset.name(),
        train.len(),
        valid.len(),
        train.shape(),
        train.num_classes()
    );
    Ok(DataLoaders::new(train, valid, settings.batch_size, settings.seed))
}

/// The IDX directory of a 28×28 set: `--data`, else where `scripts/fetch-data.sh` puts it.
fn idx_dir_of(settings: &Settings) -> PathBuf {
    settings.data_dir.clone().or_else(|| settings.dataset.default_dir()).unwrap_or_default()
}

/// Stage 2: the model's layers as the derive computed them, one line each.
pub fn describe_model<M: Compressible>(name: &str) -> String {
    let mut text = format!(
        "Model: {name}, {} parameters, {} multiply-adds per image.\n  {:<8} {:>12} {:>10}\n",
        thousands(M::num_params() as u64),
        thousands(M::num_macs() as u64),
        "layer",
        "output",
        "params"
    );
    for layer in M::LAYERS {
        text.push_str(&format!(
            "  {:<8} {:>12} {:>10}\n",
            layer.name,
            layer.output.to_string(),
            thousands(layer.params as u64)
        ));
    }
    text
}

/// Stage 3 (and after every later stage): parameters, size on disk, single-image CPU latency,
/// multiply-adds and validation accuracy of the learner's model, as one report row.
///
/// The latency is the median of [`LATENCY_RUNS`] forward passes on the first validation image, in
/// rayon's default pool (one thread per core).
pub fn measure<M, X>(stage: &str, learn: &mut Learner<M, X, CLASSES>) -> Result<ReportRow>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let accuracy = Accuracy::from_fraction(learn.validate()?.accuracy.get())?;
    let model = learn.model();
    let params = num_params::<f32, Cpu, M>(model);
    let size = model_size::<f32, Cpu, M>(model)?;
    let latency = single_image_latency(learn)?;
    let notes = format!("{} MACs, {} threads", thousands(M::num_macs() as u64), latency.threads);
    Ok(ReportRow::new(stage, params, size, latency.p50, accuracy).with_notes(notes))
}

fn single_image_latency<M, X>(learn: &Learner<M, X, CLASSES>) -> Result<Latency>
where
    M: Classifier<X, CLASSES> + Sync,
    X: BatchInput,
{
    let valid = &learn.data().valid;
    let image = X::from_images(learn.device(), valid.image(0).to_vec(), valid.shape())?;
    let model = learn.model();
    let options = LatencyOptions::default().runs(LATENCY_RUNS);
    Ok(cpu_latency(|x| model.try_forward(x.clone()), &image, &options)?)
}

/// Stage 4: `epochs` epochs of one-cycle training peaking at `lr_max`; the learner prints the epoch
/// table as it goes. Returns the history and the wall time.
pub fn train<M, X>(
    learn: &mut Learner<M, X, CLASSES>,
    epochs: usize,
    lr_max: f64,
) -> Result<(History, Duration)>
where
    M: Classifier<X, CLASSES>,
    X: BatchInput,
{
    let start = Instant::now();
    let history = learn.fit_one_cycle(epochs, lr_max)?;
    Ok((history, start.elapsed()))
}

/// Last stage: writes `report` as JSON to `dir/report.json` (creating `dir`), through a temporary
/// file renamed into place. Returns the file's path.
pub fn save_report(report: &Report, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| MeasureError::Io {
        action: "create the report directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(REPORT_FILE);
    report.save_json(&path)?;
    Ok(path)
}

/// Writes `model`'s weights to `dir/<stage>.safetensors` (creating `dir`), the file whose byte size
/// the report calls "size". Returns the file's path.
pub fn save_model<M: TensorCollection<f32, Cpu>>(model: &M, stage: &str, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| MeasureError::Io {
        action: "create the output directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{stage}.safetensors"));
    save_weights(model, &path)?;
    Ok(path)
}

/// What [`run_baseline`] found, and the trained model the next stages start from.
pub struct Walkthrough<M> {
    /// The trained model.
    pub model: M,
    /// The model's figures before any training (accuracy near chance).
    pub untrained: ReportRow,
    /// One row per stage, the trained baseline first.
    pub report: Report,
    /// The training epochs.
    pub history: History,
    /// Wall time of training.
    pub train_time: Duration,
    /// Where the report was saved.
    pub report_path: PathBuf,
}

/// The stage name of the trained model in the report.
pub const BASELINE: &str = "baseline";

/// The first part of the walkthrough: measure `model` untrained, train it, measure it again, save
/// the report. Prints each step in plain words.
pub fn run_baseline<M, X>(
    name: &str,
    model: M,
    data: impl Into<Arc<DataLoaders>>,
    settings: &Settings,
) -> Result<Walkthrough<M>>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    println!("\n{}", describe_model::<M>(name));
    let mut learn: Learner<M, X, CLASSES> = Learner::new(model, data).with_output(settings.output);

    println!("Measuring the untrained model (random weights: expect chance accuracy, about 10%)...");
    let untrained = measure("untrained", &mut learn)?;
    println!("{}", one_row(&untrained));

    println!(
        "Training for {} with the one-cycle schedule (learning rate warming up to {} then annealing):",
        epochs(settings.epochs),
        settings.lr_max
    );
    let (history, train_time) = train(&mut learn, settings.epochs, settings.lr_max)?;
    println!("Trained in {:.1} s.\n", train_time.as_secs_f64());

    println!(
        "Measuring the trained model: this row is the baseline every compression stage is compared with."
    );
    let mut report = Report::default();
    report.push(measure(BASELINE, &mut learn)?);
    println!("{report}");

    let report_path = save_report(&report, &settings.out_dir)?;
    Ok(Walkthrough { model: learn.into_model(), untrained, report, history, train_time, report_path })
}

/// `1 epoch`, `3 epochs`.
pub fn epochs(n: usize) -> String {
    format!("{n} epoch{}", if n == 1 { "" } else { "s" })
}

/// A one-row table for `row`.
fn one_row(row: &ReportRow) -> Report {
    let mut report = Report::default();
    report.push(row.clone());
    report
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
