//! The main job: train a small CNN, then make it smaller and faster one technique at a time,
//! measuring it the same way after every stage.
//!
//! ```sh
//! cargo run --release --example walkthrough                       # embedded 8×8 digits, about a minute
//! scripts/fetch-data.sh                                            # once, for the 28×28 sets
//! cargo run --release --example walkthrough -- --dataset fashion-mnist --data data/fashion-mnist
//! ```
//!
//! The story: baseline → teacher → distilled → sparsified → pruned → folded → factorized →
//! quantized → accelerated. Each stage is one function in `stages/`, takes the previous model and
//! adds one row to the report; `target/walkthrough/` receives `report.json`, `stages.svg`,
//! `sparsity.svg`, the prune plan and every stage's weights (the last one as int8).
//!
//! `--help` lists every flag. Exit codes: 0 done, 2 bad flag or missing data (or a subset larger
//! than the set), 1 a stage failed (the message names it).

mod args;
mod models;
mod stages;

use std::process::ExitCode;

use args::{parse_args, UsageError, USAGE};
use fasterai::data::DataError;
use fasterai::learn::BatchInput;
use fasterai::prelude::{Cpu, DeviceBuildExt};
use models::{
    DigitsCnn, DigitsInput, FoldedDigits, FoldedVgg, Mnist28Input, PrunedDigits, PrunedVgg, SmallDigits,
    SmallVgg, SmallVggFactorized, WideDigitsCnn, WideVgg,
};
use stages::{DatasetChoice, InStage, Settings, StageError, Story};

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
        Err(StageError {
            source:
                fasterai::Error::Data(
                    e @ (DataError::MissingDir { .. } | DataError::MissingFile { .. } | DataError::BadSubset { .. }),
                ),
            ..
        }) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: &Settings) -> Result<(), StageError> {
    introduce(settings);
    let data = stages::load_data(settings).stage("data")?;
    let device = Cpu::seed_from_u64(settings.seed);
    match settings.dataset {
        DatasetChoice::Digits => {
            let mut story = Story::<DigitsInput>::new("DigitsCnn on the 8×8 digits", settings.clone(), data);
            let baseline = stages::baseline(&mut story, "DigitsCnn", device.build_module::<DigitsCnn, f32>())?;
            drop(baseline); // its row is what every later stage is compared with
            let teacher = stages::teacher(&mut story, "WideDigitsCnn", device.build_module::<WideDigitsCnn, f32>())?;
            let student = device.build_module::<DigitsCnn, f32>();
            let model = stages::distill(&mut story, student, &teacher)?;
            drop(teacher);
            let model = stages::sparsify(&mut story, model)?;
            let model = stages::prune(&mut story, model, "PrunedDigits", PrunedDigits::from_source)?;
            let model = stages::fold(&mut story, model, "FoldedDigits", FoldedDigits::from_source)?;
            let model = stages::factorize(&mut story, model, "SmallDigits", SmallDigits::from_source)?;
            let model = stages::quantize(&mut story, model)?;
            stages::accelerate(&mut story, &model)?;
            conclude(&story)
        }
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => {
            let title = format!("SmallVgg on {}", settings.dataset.name());
            let mut story = Story::<Mnist28Input>::new(title, settings.clone(), data);
            let baseline = stages::baseline(&mut story, "SmallVgg", device.build_module::<SmallVgg, f32>())?;
            drop(baseline); // its row is what every later stage is compared with
            let teacher = stages::teacher(&mut story, "WideVgg", device.build_module::<WideVgg, f32>())?;
            let student = device.build_module::<SmallVgg, f32>();
            let model = stages::distill(&mut story, student, &teacher)?;
            drop(teacher);
            let model = stages::sparsify(&mut story, model)?;
            let model = stages::prune(&mut story, model, "PrunedVgg", PrunedVgg::from_source)?;
            let model = stages::fold(&mut story, model, "FoldedVgg", FoldedVgg::from_source)?;
            let model =
                stages::factorize(&mut story, model, "SmallVggFactorized", SmallVggFactorized::from_source)?;
            let model = stages::quantize(&mut story, model)?;
            stages::accelerate(&mut story, &model)?;
            conclude(&story)
        }
    }
}

/// The recap table, the final ratios, and where the files are.
fn conclude<X: BatchInput>(story: &Story<X>) -> Result<(), StageError> {
    let recap = stages::recap_text(story.report()).stage("recap")?;
    println!("Recap: every stage against the baseline.\n\n{recap}");
    let trainings: Vec<String> = story
        .trainings()
        .iter()
        .map(|t| format!("{} {:.1} s ({})", t.stage, t.time.as_secs_f64(), stages::epochs(t.history.epochs.len())))
        .collect();
    println!("Training time: {}.", trainings.join(", "));
    println!(
        "Report: {}; beside it {}, {}, {}, one .safetensors per stage and the final model as accelerated.onnx.",
        story.report_path().display(),
        stages::STAGES_CHART,
        stages::SPARSITY_CHART,
        stages::PLAN_FILE
    );
    Ok(())
}

/// What the run is about to do, for someone who has never seen the project.
fn introduce(settings: &Settings) {
    println!("fasterai walkthrough: train a small convolutional network, then make it smaller and faster.");
    println!(
        "{}",
        stages::wrap(
            "After every stage we measure four things a deployment cares about: how many parameters the \
             model has, how many bytes its weights take on disk (safetensors), how long it takes to \
             classify one image on this CPU (median of 100 runs), and how often it is right on images it \
             never trained on.",
            100
        )
    );
    let model = match settings.dataset {
        DatasetChoice::Digits => "a small CNN (two convolutions) on the 8×8 handwritten digits built into the crate",
        DatasetChoice::Mnist | DatasetChoice::FashionMnist => "SmallVgg (four convolutions) on 28×28 images",
    };
    println!(
        "This run: {model}, {} of training for the baseline.\n",
        stages::epochs(settings.epochs)
    );
}
