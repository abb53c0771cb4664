//! The structural half of the walkthrough on the model the Python walkthrough uses: VGG16 with
//! batch norm, 3×128×128 images, 10 classes (134,309,962 parameters), with random weights (no
//! training: this example is about size and speed). It measures the model, prunes half of every
//! convolution's filters from a plan file, folds the BatchNorms, factorizes the two big fully
//! connected layers at half their rank, freezes the result into an int8 inference plan
//! (calibrated on a few random images, since the weights are random too), and measures after
//! each step, printing the Python walkthrough's figures beside ours.
//!
//! ```sh
//! cargo run --release --example vgg16                  # measure every stage (about 5 minutes, most of it the SVDs)
//! cargo run --release --example vgg16 -- --write-plan  # regenerate examples/vgg16/plan.json
//! ```
//!
//! The plan keeps, in each convolution, the half of its filters with the largest L1 norm, ranked
//! on the weights that [`SEED`] draws. `compress!` reads the plan while compiling to size
//! `PrunedVgg16`, so after `--write-plan` the next `cargo run` rebuilds the example; the widths
//! only change if the ranking rule does.
//!
//! Memory: the baseline's weights take 537 MB; at most two models are alive at a time (the
//! source and the result of each conversion).

use std::path::Path;
use std::time::Instant;

use fasterai::compress::prune::{FilterData, LayerFilters};
use fasterai::measure::{thousands, Bytes, Millis};
use fasterai::prelude::*;

#[macro_use]
#[path = "../../tests/support/vgg16_bn.rs"]
mod vgg16_bn;
use vgg16_bn::Vgg16Bn;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Seeds the random weights, so the plan written by `--write-plan` ranks the filters of the model
/// every run builds.
const SEED: u64 = 16;

/// The plan file, relative to the package root (where `compress!` resolves it too).
const PLAN: &str = "examples/vgg16/plan.json";

/// Timed single-image runs per latency figure (after one untimed run): few, the model is slow.
const LATENCY_RUNS: usize = 5;

/// Random images the int8 activation ranges are calibrated on.
const CALIBRATION_IMAGES: usize = 4;


compress! {
    /// [`Vgg16Bn`] with the filters of the plan file kept (half of each convolution).
    pub PrunedVgg16 = Vgg16Bn { prune(plan = "examples/vgg16/plan.json") }
}

compress! {
    /// [`PrunedVgg16`] with its BatchNorms folded into the convolutions.
    pub FoldedVgg16 = PrunedVgg16 { fold() }
}

compress! {
    /// [`FoldedVgg16`] with fc1 (12544 → 4096) and fc2 (4096 → 4096) at half their rank.
    pub SmallVgg16 = FoldedVgg16 { factorize(fc1 = 2048, fc2 = 2048) }
}

/// One image, batch of one.
type Image = Tensor<(usize, Const<3>, Const<128>, Const<128>), f32, Cpu>;

/// Our figures for one stage, and the Python walkthrough's (MB, ms) for the same stage.
struct Row {
    stage: &'static str,
    params: usize,
    size: Bytes,
    latency: Millis,
    python: (f64, f64),
}

fn main() {
    let write_plan = std::env::args().skip(1).any(|a| a == "--write-plan");
    let result = if write_plan { write_plan_file() } else { run() };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Builds the seeded model, ranks each convolution's filters by L1 norm, keeps the better half,
/// and saves the plan.
fn write_plan_file() -> Result<()> {
    let model = Cpu::seed_from_u64(SEED).build_module::<Vgg16Bn, f32>();
    let m = &model;
    let filters = [
        FilterData::conv("conv1", &m.conv1.weight, Some(&m.conv1.bias), Some(&m.bn1)),
        FilterData::conv("conv2", &m.conv2.weight, Some(&m.conv2.bias), Some(&m.bn2)),
        FilterData::conv("conv3", &m.conv3.weight, Some(&m.conv3.bias), Some(&m.bn3)),
        FilterData::conv("conv4", &m.conv4.weight, Some(&m.conv4.bias), Some(&m.bn4)),
        FilterData::conv("conv5", &m.conv5.weight, Some(&m.conv5.bias), Some(&m.bn5)),
        FilterData::conv("conv6", &m.conv6.weight, Some(&m.conv6.bias), Some(&m.bn6)),
        FilterData::conv("conv7", &m.conv7.weight, Some(&m.conv7.bias), Some(&m.bn7)),
        FilterData::conv("conv8", &m.conv8.weight, Some(&m.conv8.bias), Some(&m.bn8)),
        FilterData::conv("conv9", &m.conv9.weight, Some(&m.conv9.bias), Some(&m.bn9)),
        FilterData::conv("conv10", &m.conv10.weight, Some(&m.conv10.bias), Some(&m.bn10)),
        FilterData::conv("conv11", &m.conv11.weight, Some(&m.conv11.bias), Some(&m.bn11)),
        FilterData::conv("conv12", &m.conv12.weight, Some(&m.conv12.bias), Some(&m.bn12)),
        FilterData::conv("conv13", &m.conv13.weight, Some(&m.conv13.bias), Some(&m.bn13)),
    ];
    let views: Vec<LayerFilters<'_>> = filters.iter().map(FilterData::view).collect();
    let plan = PrunePlan::from_scores(&views, Ranking::Local, Ratio::from_percent(50.0)?, 1)?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAN);
    plan.save(&path)?;
    println!("{plan}\nWrote {}; `cargo run --release --example vgg16` rebuilds with it.", path.display());
    Ok(())
}

fn run() -> Result<()> {
    println!("VGG16-BN, 3×128×128 images, 10 classes, random weights (seed {SEED}); batch-1 latency is the median of {LATENCY_RUNS} runs.");
    let dev = Cpu::seed_from_u64(SEED);
    let image: Image = dev.sample_normal_like(&(1, Const, Const, Const));
    let mut rows = Vec::new();

    let start = Instant::now();
    let model = dev.build_module::<Vgg16Bn, f32>();
    println!("built in {:.1} s", start.elapsed().as_secs_f64());
    rows.push(measure("baseline", &model, &image, (537.30, 26.33))?);
    print_row(rows.last());

    let plan = PrunePlan::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAN))?;
    let pruned = timed("prune (copy the kept filters)", || PrunedVgg16::from_source(&model, &plan))?;
    drop(model);
    rows.push(measure("pruned", &pruned, &image, (218.53, 16.41))?);
    print_row(rows.last());

    let folded = timed("fold (merge 13 BatchNorms)", || FoldedVgg16::from_source(&pruned))?;
    drop(pruned);
    rows.push(measure("folded", &folded, &image, (218.48, 15.63))?);
    print_row(rows.last());

    let small = timed("factorize (two truncated SVDs)", || SmallVgg16::from_source(&folded))?;
    drop(folded);
    rows.push(measure("factorized", &small, &image, (182.91, 14.90))?);
    print_row(rows.last());

    // int8: random weights have no data to calibrate on, so a few random images stand in for it.
    let calibration: Vec<f32> = (0..CALIBRATION_IMAGES)
        .flat_map(|_| {
            let sample: Image = dev.sample_normal_like(&(1, Const, Const, Const));
            sample.as_vec()
        })
        .collect();
    let start = Instant::now();
    let mut int8 = quantize_static(&small, &calibration, CALIBRATION_IMAGES, QuantizeOptions::default())?;
    println!("int8 (calibrate on {CALIBRATION_IMAGES} images, quantize, pack): {:.1} s", start.elapsed().as_secs_f64());
    drop(small);
    let size = int8.size_bytes()?;
    let pixels = image.as_vec();
    let options = LatencyOptions::default().warmup(1).runs(LATENCY_RUNS);
    let mut failed = None;
    let latency = cpu_latency(
        |x: &[f32]| {
            if let Err(e) = int8.run(x) {
                failed.get_or_insert(e);
            }
        },
        pixels.as_slice(),
        &options,
    )?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    rows.push(Row { stage: "int8", params: 0, size, latency: latency.p50, python: (46.02, 9.97) });
    print_row(rows.last());

    println!("\n{:<11} {:>12} {:>11} {:>11}   {:>16}", "stage", "params", "size (MB)", "p50 (ms)", "Python (MB, ms)");
    for row in &rows {
        println!(
            "{:<11} {:>12} {:>11.2} {:>11.2}   {:>7.2}, {:>6.2}",
            row.stage,
            thousands(row.params as u64),
            row.size.megabytes(),
            row.latency.0,
            row.python.0,
            row.python.1
        );
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    println!(
        "\nbaseline → int8 frozen plan: {:.2}× smaller, {:.2}× faster (Python: 537.30 → 46.02 MB, 26.33 → 9.97 ms, \
         11.7× and 2.6×).",
        first.size.0 as f64 / last.size.0 as f64,
        first.latency.0 / last.latency.0
    );
    Ok(())
}

fn timed<T>(what: &str, f: impl FnOnce() -> std::result::Result<T, fasterai::compress::StructError>) -> Result<T> {
    let start = Instant::now();
    let out = f()?;
    println!("{what}: {:.1} s", start.elapsed().as_secs_f64());
    Ok(out)
}

fn measure<M>(stage: &'static str, model: &M, image: &Image, python: (f64, f64)) -> Result<Row>
where
    M: TensorCollection<f32, Cpu> + Module<Image> + Sync,
{
    let params = num_params::<f32, Cpu, M>(model);
    let size = model_size::<f32, Cpu, M>(model)?;
    let options = LatencyOptions::default().warmup(1).runs(LATENCY_RUNS);
    let latency = cpu_latency(|x| model.try_forward(x.clone()), image, &options)?;
    Ok(Row { stage, params, size, latency: latency.p50, python })
}

fn print_row(row: Option<&Row>) {
    if let Some(r) = row {
        println!(
            "{:<11} {:>12} params  {:>8.2} MB  {:>8.2} ms   (Python: {:.2} MB, {:.2} ms)",
            r.stage,
            thousands(r.params as u64),
            r.size.megabytes(),
            r.latency.0,
            r.python.0,
            r.python.1
        );
    }
}
