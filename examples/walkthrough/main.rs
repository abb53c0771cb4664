//! The main job: train a small CNN and measure it the way the rest of the walkthrough will measure
//! every compressed version of it.
//!
//! ```sh
//! cargo run --release --example walkthrough                       # embedded 8×8 digits, under a minute
//! scripts/fetch-data.sh                                            # once, for the 28×28 sets
//! cargo run --release --example walkthrough -- --dataset fashion-mnist --data data/fashion-mnist
//! ```
//!
//! `--help` lists every flag. Exit codes: 0 done, 2 bad flag or missing data, 1 anything else.

mod models;
mod stages;

use std::path::PathBuf;
use std::process::ExitCode;

use fasterai::data::DataError;
use fasterai::prelude::{Cpu, DeviceBuildExt};
use models::{DigitsCnn, DigitsInput, Mnist28Input, SmallVgg};
use stages::{DatasetChoice, Settings};

// mimalloc instead of glibc's malloc: glibc hands every large activation buffer (above its mmap
// threshold) back to the kernel on free, so each training step page-faults the next ones in again.
// mimalloc keeps freed memory in the process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
Usage: cargo run --release --example walkthrough -- [FLAGS]

  --dataset NAME      digits (default, embedded), mnist or fashion-mnist
  --data DIR          IDX directory of mnist / fashion-mnist (default data/mnist, data/fashion-mnist;
                      fill it with scripts/fetch-data.sh)
  --epochs N          epochs of one-cycle training (default 8 for digits, 3 for the 28×28 sets)
  --train-subset N    train on N randomly drawn training images
  --batch-size N      images per batch (default 64)
  --seed N            seed of weights, split and shuffling (default 42)
  --out DIR           where report.json goes (default target/walkthrough)
  --help              this text";

/// A command line the walkthrough cannot run; the message says what to change.
#[derive(Debug)]
struct UsageError(String);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let settings = match parse_args(&args) {
        Ok(settings) => settings,
        Err(UsageError(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fasterai::Error::Data(e @ (DataError::MissingDir { .. } | DataError::MissingFile { .. }))) => {
            eprintln!("error: {e}\n(run scripts/fetch-data.sh from the repository root, then pass --data DIR)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: &Settings) -> fasterai::Result<()> {
    introduce(settings);
    let data = stages::load_data(settings)?;
    let device = Cpu::seed_from_u64(settings.seed);
    let outcome = match settings.dataset {
        DatasetChoice::Digits => {
            let model = device.build_module::<DigitsCnn, f32>();
            stages::run_baseline::<_, DigitsInput>("DigitsCnn", model, data, settings)?
        }
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => {
            let model = device.build_module::<SmallVgg, f32>();
            stages::run_baseline::<_, Mnist28Input>("SmallVgg", model, data, settings)?
        }
    };
    let baseline = &outcome.report.rows()[0];
    println!(
        "\n{} epochs ({:.1} s) took validation accuracy from {:.1}% to {:.1}%; the {}-parameter model weighs {} \
         on disk and answers in {} ms. Figures saved in {}.",
        outcome.history.epochs.len(),
        outcome.train_time.as_secs_f64(),
        outcome.untrained.accuracy.as_percent(),
        baseline.accuracy.as_percent(),
        baseline.params,
        baseline.size,
        baseline.latency_p50,
        outcome.report_path.display()
    );
    println!("Next (coming): distill, sparsify, prune, fold, factorize, quantize, accelerate — each measured the same way.");
    Ok(())
}

/// What the run is about to do, for someone who has never seen the project.
fn introduce(settings: &Settings) {
    println!("fasterai walkthrough: train a small convolutional network, then measure it.");
    println!(
        "We measure four things a deployment cares about: how many parameters the model has, how many \
         bytes its weights take on disk (safetensors), how long it takes to classify one image on this \
         CPU (median of 100 runs), and how often it is right on images it never trained on."
    );
    let model = match settings.dataset {
        DatasetChoice::Digits => "a small CNN (two convolutions) on the 8×8 handwritten digits built into the crate",
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => "SmallVgg (four convolutions) on 28×28 images",
    };
    println!("This run: {model}, {} epochs. These figures become the baseline every compression step is compared with.\n", settings.epochs);
}

fn parse_args(args: &[String]) -> Result<Settings, UsageError> {
    // The dataset decides the defaults, so read it first.
    let mut dataset = DatasetChoice::Digits;
    let mut pairs = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value =
            rest.next().ok_or_else(|| UsageError(format!("`{flag}` needs a value")))?;
        if flag == "--dataset" {
            dataset = DatasetChoice::from_name(value).ok_or_else(|| {
                let names: Vec<&str> = DatasetChoice::ALL.iter().map(|(n, _)| *n).collect();
                UsageError(format!("unknown dataset `{value}`; choose one of {}", names.join(", ")))
            })?;
        } else {
            pairs.push((flag.as_str(), value.as_str()));
        }
    }
    let mut settings = Settings::defaults(dataset);
    for (flag, value) in pairs {
        match flag {
            "--data" => settings.data_dir = Some(PathBuf::from(value)),
            "--epochs" => settings.epochs = positive(flag, value)?,
            "--train-subset" => settings.train_subset = Some(positive(flag, value)?),
            "--batch-size" => settings.batch_size = positive(flag, value)?,
            "--seed" => {
                settings.seed = value
                    .parse()
                    .map_err(|_| UsageError(format!("`--seed` takes a whole number, got `{value}`")))?
            }
            "--out" => settings.out_dir = PathBuf::from(value),
            _ => return Err(UsageError(format!("unknown flag `{flag}`"))),
        }
    }
    if dataset == DatasetChoice::Digits && settings.data_dir.is_some() {
        return Err(UsageError("`--data` is for mnist and fashion-mnist; digits are embedded".into()));
    }
    Ok(settings)
}

/// `value` as a whole number above zero, or a message naming `flag`.
fn positive(flag: &str, value: &str) -> Result<usize, UsageError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UsageError(format!("`{flag}` takes a whole number above 0, got `{value}`"))),
    }
}
