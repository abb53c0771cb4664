//! The main job: train a small CNN and measure it the way the rest of the walkthrough will measure
//! every compressed version of it.
//!
//! ```sh
//! cargo run --release --example walkthrough                       # embedded 8×8 digits, under a minute
//! scripts/fetch-data.sh                                            # once, for the 28×28 sets
//! cargo run --release --example walkthrough -- --dataset fashion-mnist --data data/fashion-mnist
//! ```
//!
//! `--help` lists every flag. Exit codes: 0 done, 2 bad flag or missing data (or a subset larger than the set), 1 anything else.

mod args;
mod models;
mod stages;

use std::process::ExitCode;

use args::{parse_args, UsageError, USAGE};
use fasterai::data::DataError;
use fasterai::prelude::{Cpu, DeviceBuildExt, TensorCollection};
use models::{DigitsCnn, DigitsInput, Mnist28Input, SmallVgg};
use stages::{DatasetChoice, Settings};

// mimalloc instead of glibc's malloc: glibc hands every large activation buffer (above its mmap
// threshold) back to the kernel on free, so each training step page-faults the next ones in again.
// mimalloc keeps freed memory in the process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Err(fasterai::Error::Data(
            e @ (DataError::MissingDir { .. } | DataError::MissingFile { .. } | DataError::BadSubset { .. }),
        )) => {
            eprintln!("error: {e}");
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
    match settings.dataset {
        DatasetChoice::Digits => {
            let model = device.build_module::<DigitsCnn, f32>();
            let outcome = stages::run_baseline::<_, DigitsInput>("DigitsCnn", model, data, settings)?;
            conclude(&outcome, settings)?;
        }
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => {
            let model = device.build_module::<SmallVgg, f32>();
            let outcome = stages::run_baseline::<_, Mnist28Input>("SmallVgg", model, data, settings)?;
            conclude(&outcome, settings)?;
        }
    }
    Ok(())
}

/// What the run found, in one sentence, and what comes next.
fn conclude<M: TensorCollection<f32, Cpu>>(
    outcome: &stages::Walkthrough<M>,
    settings: &Settings,
) -> fasterai::Result<()> {
    let baseline = &outcome.report.rows()[0];
    let weights = stages::save_model(&outcome.model, &baseline.stage, &settings.out_dir)?;
    println!(
        "{} ({:.1} s) took validation accuracy from {:.1}% to {:.1}%; the {}-parameter model weighs {} \
         on disk and answers in {}.\nReport: {}; weights: {}.",
        stages::epochs(outcome.history.epochs.len()),
        outcome.train_time.as_secs_f64(),
        outcome.untrained.accuracy.as_percent(),
        baseline.accuracy.as_percent(),
        stages::thousands(baseline.params as u64),
        baseline.size,
        baseline.latency_p50,
        outcome.report_path.display(),
        weights.display()
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
        DatasetChoice::Digits => {
            "a small CNN (two convolutions) on the 8×8 handwritten digits built into the crate"
        }
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => "SmallVgg (four convolutions) on 28×28 images",
    };
    println!(
        "This run: {model}, {}. These figures become the baseline every compression step is compared with.\n",
        stages::epochs(settings.epochs)
    );
}
