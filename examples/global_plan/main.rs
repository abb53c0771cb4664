//! Global pruning in two phases: training decides the widths, the compiler builds the type.
//!
//! With a *global* ranking, how many filters each layer keeps depends on the trained weights, so
//! the pruned type cannot be written down before training. The two phases bridge that:
//!
//! ```sh
//! # Phase one: train, sparsify 50% of all filters ranked globally, write the plan and the weights.
//! cargo run --release --example global_plan -- sparsify
//! # Phase two: this file's `compress!` reads examples/global_plan/plan.json at compile time (cargo
//! # rebuilds when it changes), so the pruned type has the widths phase one found.
//! cargo run --release --example global_plan -- prune
//! ```
//!
//! The committed `plan.json` comes from a phase-one run with the default seed; a run on another
//! machine may rank a few filters differently, which only changes the plan that phase one writes
//! and the type the next build compiles. Phase two checks that the plan and the weights agree and
//! that the pruned model computes what the sparse one did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use fasterai::compress::sparsify::{Context, ConvGranularity, Criteria, Criterion, GlobalOptions, Granularity};
use fasterai::data::{digits, DataLoaders};
use fasterai::learn::LrSchedule;
use fasterai::measure::measure_stage;
use fasterai::prelude::*;

/// A digits CNN small enough to train in seconds (shared with the tests).
#[path = "../../tests/support/models.rs"]
#[allow(dead_code)]
mod models;
use models::DigitsNet as Net;

compress! {
    /// `Net` with the widths phase one chose (read from the plan when this file is compiled).
    pub GloballyPruned = Net { prune(plan = "examples/global_plan/plan.json") }
}

type Input = (usize, Const<1>, Const<8>, Const<8>);

/// Where phase one writes the plan that phase two's `compress!` reads.
const PLAN: &str = "examples/global_plan/plan.json";

fn weights_path() -> PathBuf {
    PathBuf::from("target/global_plan/sparse.safetensors")
}

fn data() -> Result<Arc<DataLoaders>> {
    let (train, valid) = digits(0.2, 42)?;
    Ok(Arc::new(DataLoaders::new(train, valid, 64, 42)))
}

/// Phase one: 6 one-cycle epochs, then 4 epochs at 1e-3 while a cosine schedule zeroes 50% of
/// all filters, ranked together (balanced: each layer's scores divided by its mean, a budget in
/// weights, at least a quarter of each layer kept). Writes the plan of the surviving filters and
/// the sparse weights.
fn sparsify() -> Result<()> {
    let data = data()?;
    let model = Cpu::seed_from_u64(42).build_module::<Net, f32>();
    let mut learn: Learner<Net, Input, 10> = Learner::new(model, data);
    println!("Training the dense model:");
    learn.fit_one_cycle(6, 1e-2)?;
    let sparsifier = Sparsifier::new(
        Sparsity::from_percent(50.0)?,
        Granularity::Conv(ConvGranularity::Filter),
        Context::Global(GlobalOptions::balanced()),
        Criteria::new(Criterion::LargeFinal),
    );
    let mut callback = SparsifyCallback::<Net>::new(sparsifier, SparsitySchedule::cos())?;
    println!("Sparsifying 50% of all filters, ranked across layers:");
    learn.fit_with(4, LrSchedule::Constant { lr: 1e-3 }, &mut [&mut callback])?;
    let plan = PrunePlan::from_model(learn.model())?;
    println!("Widths chosen by the global ranking:\n{plan}");
    plan.save(PLAN)?;
    let path = weights_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| fasterai::measure::MeasureError::Io {
            action: "create the output directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    save_weights(learn.model(), &path)?;
    let mut report = Report::default();
    report.push(measure_stage("sparse (global 50%)", &mut learn)?);
    println!("{report}");
    println!("Wrote {PLAN} and {}. Now run phase two:\n  cargo run --release --example global_plan -- prune", path.display());
    Ok(())
}

/// Phase two: loads the sparse weights, converts them into `GloballyPruned` with the plan, and
/// compares outputs and figures.
fn prune() -> Result<()> {
    let path = weights_path();
    if !Path::new(&path).exists() {
        eprintln!("{} is missing: run phase one first (cargo run --release --example global_plan -- sparsify)", path.display());
        return Ok(());
    }
    let mut sparse = Cpu::default().build_module::<Net, f32>();
    load_weights(&mut sparse, &path)?;
    let plan = PrunePlan::load(PLAN)?;
    let pruned = GloballyPruned::from_source(&sparse, &plan)?;
    println!("Compiled widths: {}", widths::<GloballyPruned>());

    let data = data()?;
    let n = 64;
    let pixels: Vec<f32> = (0..n).flat_map(|i| data.valid.image(i).to_vec()).collect();
    let x: Tensor<Input, f32, Cpu> = Cpu::default().tensor_from_vec(pixels, (n, Const, Const, Const));
    let (a, b) = (sparse.forward(x.clone()).as_vec(), pruned.forward(x).as_vec());
    let gap = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    println!("Largest output difference between the sparse and the pruned model: {gap:.2e}");

    let mut report = Report::default();
    let mut learn: Learner<Net, Input, 10> = Learner::new(sparse, data.clone()).with_output(Output::Quiet);
    report.push(measure_stage("sparse (global 50%)", &mut learn)?);
    let mut learn: Learner<GloballyPruned, Input, 10> = Learner::new(pruned, data).with_output(Output::Quiet);
    report.push(measure_stage("pruned from the plan", &mut learn)?);
    println!("{report}");
    Ok(())
}

/// `conv1 16, conv2 13, fc1 64`: the output width of every convolution and linear layer.
fn widths<M: Compressible>() -> String {
    let widths: Vec<String> = M::LAYERS
        .iter()
        .filter_map(|l| match l.kind {
            LayerKindInfo::Conv2D { out_channels, .. } => Some(format!("{} {out_channels}", l.name)),
            LayerKindInfo::Linear { out_features, .. } => Some(format!("{} {out_features}", l.name)),
            _ => None,
        })
        .collect();
    widths.join(", ")
}

fn main() -> ExitCode {
    let phase = std::env::args().nth(1).unwrap_or_default();
    let result = match phase.as_str() {
        "sparsify" => sparsify(),
        "prune" => prune(),
        _ => {
            eprintln!("usage: cargo run --release --example global_plan -- sparsify|prune (phase one, then phase two)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
