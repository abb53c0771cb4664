//! What a run depends on (dataset, epochs, learning rates, output directory) and the data itself.

use std::path::PathBuf;

use fasterai::data::DataLoaders;
use fasterai::prelude::*;

/// Share of the digits set held out for validation.
const DIGITS_VALID_SHARE: f64 = 0.2;

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
    /// Epochs of one-cycle training of the baseline and of the teacher.
    pub epochs: usize,
    /// Epochs of fine-tuning at a constant rate after pruning.
    pub finetune_epochs: usize,
    /// Train on this many training images, drawn at random from `seed` (`None`: all of them).
    pub train_subset: Option<usize>,
    /// Images per batch.
    pub batch_size: usize,
    /// Seeds the weights, the split, the subset and the shuffling.
    pub seed: u64,
    /// Peak learning rate of the one-cycle schedule (baseline and teacher).
    pub lr_max: f64,
    /// Learning rate of every fine-tuning (after pruning, after factorizing): gentler than
    /// `lr_max`, because the weights are already trained.
    pub finetune_lr: f64,
    /// Peak learning rate of the teacher's one-cycle schedule (a wider model wants a lower one).
    pub teacher_lr: f64,
    /// Where the report, the charts and the weights of every stage are written.
    pub out_dir: PathBuf,
    /// How much the learner prints while training.
    pub output: Output,
}

impl Settings {
    /// The defaults for `dataset`: 8 epochs at a peak rate of 1e-2 for the digits CNN (its wider
    /// teacher at a third of it), 3 epochs at 1e-3 for SmallVgg and WideVgg on the 28×28 sets;
    /// fine-tuning at a tenth of the peak rate, for 3 epochs (digits) or 2 (28×28); batches of 64;
    /// seed 42; output under `target/walkthrough/`.
    pub fn defaults(dataset: DatasetChoice) -> Self {
        // The 28×28 sets follow the protocol of our comparison with the Python library: one-cycle
        // (3, 1e-3) for baseline, teacher and student, then fit(2, 1e-4) for sparsify and prune,
        // one-cycle (1, 1e-4) after factorizing and for QAT.
        let (epochs, lr_max, finetune_epochs, teacher_lr) = match dataset {
            DatasetChoice::Digits => (8, 1e-2, 3, 1e-2 / 3.0),
            DatasetChoice::Mnist | DatasetChoice::FashionMnist => (3, 1e-3, 2, 1e-3),
        };
        Self {
            dataset,
            data_dir: dataset.default_dir(),
            epochs,
            finetune_epochs,
            train_subset: None,
            batch_size: 64,
            seed: 42,
            lr_max,
            finetune_lr: lr_max / 10.0,
            teacher_lr,
            out_dir: PathBuf::from("target/walkthrough"),
            output: Output::Auto,
        }
    }
}

/// The training and validation images, normalised, in shuffled batches.
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
