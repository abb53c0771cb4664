//! Our plans against tract (the `tract-onnx` crate) running the ONNX file exported from the same
//! plan, in one process: batch 1, 2 threads each (our team, and a 2-thread tract executor), fp32 and
//! int8, on SmallVgg (1×28×28), VGG16-BN (3×128×128) and ResNet-18 (3×224×224, fp32 and int8).
//! Random weights (normal law) and BatchNorm statistics: latency does not depend on the values.
//!
//! `cargo bench --bench tract_peer` runs criterion on every pair, then prints the ratios from
//! alternating blocks of runs (ours, tract, ours, ...), so that the shared machine's drift hits both
//! alike: the medians of the per-block means, and the median of the per-block ratios tract / ours
//! (above 1: ours is faster). `-- smallvgg`, `-- vgg16` or `-- resnet18` for one model;
//! `-- --ratios` for the ratios alone. `-- --write DIR` saves the exported files in DIR
//! (`smallvgg-fp32.onnx`, ...) for `python3 benches/onnxruntime_reference.py ours DIR`, and prints
//! the ratios alone.

use std::time::{Duration, Instant};

use criterion::Criterion;
use fasterai::deploy::onnx::OnnxModel;
use fasterai::deploy::{accelerate, quantize_static, QuantizeOptions};
use fasterai::model::{read_tensors, write_tensors, Compressible, ShapeInfo};
use fasterai::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

#[path = "support/mod.rs"]
mod support;
use support::keep_freed_memory;
#[path = "../tests/support/models.rs"]
#[allow(dead_code)]
mod models;
use models::SmallVgg;
#[path = "../tests/support/vgg16_bn.rs"]
mod vgg16_bn;
use vgg16_bn::Vgg16Bn;
#[path = "../tests/support/resnet.rs"]
#[allow(dead_code)]
mod resnet;
use resnet::ResNet18;
#[path = "../tests/support/tract.rs"]
mod tract;
use tract::TractPlan;

/// Threads on each side.
const THREADS: usize = 2;

fn random_values(n: usize, seed: u64, lo: f32) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(lo..1.0)).collect()
}

/// A model of type `M` with normal weights and random BatchNorm statistics.
fn model<M>(seed: u64) -> M
where
    M: Compressible + TensorCollection<f32, Cpu> + BuildOnDevice<Cpu, f32, Built = M>,
{
    let mut model = Cpu::default().build_module::<M, f32>();
    let mut rng = SmallRng::seed_from_u64(seed);
    let updates: Vec<(String, Vec<f32>)> = read_tensors(&model)
        .into_iter()
        .filter_map(|t| {
            let fan_in = (t.numel() / t.shape[0].max(1)) as f32;
            let values: Vec<f32> = if t.name.ends_with("weight") && t.shape.len() >= 2 {
                (0..t.numel())
                    .map(|_| {
                        let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
                        (2.0 / fan_in).sqrt() * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
                    })
                    .collect()
            } else if t.name.ends_with("running_var") {
                (0..t.numel()).map(|_| rng.gen_range(0.5..2.0)).collect()
            } else if t.name.ends_with("running_mean") {
                (0..t.numel()).map(|_| rng.gen_range(-0.5..0.5)).collect()
            } else {
                return None;
            };
            Some((t.name, values))
        })
        .collect();
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(&mut model, &borrowed).expect("the model's own tensors");
    model
}

/// One contest: a name and the two runs (ours, tract's), each classifying the same image.
struct Pair {
    name: String,
    ours: Box<dyn FnMut()>,
    tract: Box<dyn FnMut()>,
}

fn dims(shape: ShapeInfo) -> Vec<usize> {
    match shape {
        ShapeInfo::Chw { c, h, w } => vec![c, h, w],
        ShapeInfo::Flat { n } => vec![n],
    }
}

/// The fp32 and int8 pairs of `model` (int8 calibrated on `calibration` random images).
fn pairs<M>(name: &str, model: &M, calibration: usize, write: Option<&std::path::Path>) -> Vec<Pair>
where
    M: Compressible + TensorCollection<f32, Cpu> + Send + 'static,
{
    let len = M::INPUT.numel();
    let image = random_values(len, 2, 0.0);
    let shape = dims(M::INPUT);
    let mut out = Vec::new();
    let mut fp32 = accelerate(model).expect("the model freezes");
    let onnx = OnnxModel::fp32(model).expect("the model exports");
    if let Some(dir) = write {
        onnx.save(dir.join(format!("{name}-fp32.onnx"))).expect("the fp32 file is written");
    }
    let file = onnx.to_bytes();
    let mut peer = TractPlan::new(&file, &shape).expect("tract loads the fp32 file");
    let img = image.clone();
    let img2 = image.clone();
    out.push(Pair {
        name: format!("{name}/fp32"),
        ours: Box::new(move || {
            std::hint::black_box(fp32.run(&img).expect("an image")[0]);
        }),
        tract: Box::new(move || {
            std::hint::black_box(peer.run(&img2).expect("tract runs")[0]);
        }),
    });
    let calibration = random_values(calibration * len, 3, 0.0);
    let mut int8 = quantize_static(model, &calibration, calibration.len() / len, QuantizeOptions::default()).expect("the model quantizes");
    let onnx = OnnxModel::int8(&int8).expect("the int8 plan exports");
    if let Some(dir) = write {
        onnx.save(dir.join(format!("{name}-int8.onnx"))).expect("the int8 file is written");
    }
    let file = onnx.to_bytes();
    let mut peer = TractPlan::new(&file, &shape).expect("tract loads the int8 file");
    let img = image.clone();
    out.push(Pair {
        name: format!("{name}/int8 ({})", int8.kernels_name()),
        ours: Box::new(move || {
            std::hint::black_box(int8.run(&img).expect("an image")[0]);
        }),
        tract: Box::new(move || {
            std::hint::black_box(peer.run(&image).expect("tract runs")[0]);
        }),
    });
    out
}

/// Mean ms per run over `n` runs.
fn time(run: &mut dyn FnMut(), n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        run();
    }
    start.elapsed().as_secs_f64() * 1e3 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternating blocks of runs; prints the medians and the median ratio tract / ours.
fn ratios(pair: &mut Pair) {
    let once = time(pair.ours.as_mut(), 1).max(time(pair.tract.as_mut(), 1));
    let per_block = ((100.0 / once) as usize).clamp(1, 200); // about 0.1 s a block
    let blocks = if once > 50.0 { 9 } else { 21 };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for block in 0..blocks {
        // Each side goes first every other block.
        if block % 2 == 0 {
            ours.push(time(pair.ours.as_mut(), per_block));
            theirs.push(time(pair.tract.as_mut(), per_block));
        } else {
            theirs.push(time(pair.tract.as_mut(), per_block));
            ours.push(time(pair.ours.as_mut(), per_block));
        }
    }
    let ratio = median(theirs.iter().zip(&ours).map(|(t, o)| t / o).collect());
    println!(
        "{:<40} ours {:>9.3} ms   tract {:>9.3} ms   tract / ours {ratio:>6.2}   ({blocks} blocks of {per_block})",
        pair.name,
        median(ours),
        median(theirs)
    );
}

fn main() {
    keep_freed_memory();
    tract_linalg::multithread::set_default_executor(tract_linalg::multithread::Executor::multithread(THREADS));
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let write = args.iter().position(|a| a == "--write").map(|at| {
        let dir = std::path::PathBuf::from(args.get(at + 1).expect("--write DIR"));
        args.drain(at..at + 2);
        std::fs::create_dir_all(&dir).expect("the directory for the files");
        dir
    });
    let write = write.as_deref();
    // Criterion would refuse `--write`: with it, the ratios alone.
    let only_ratios = write.is_some() || args.iter().any(|a| a == "--ratios");
    let wanted = |name: &str| {
        let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    };
    let mut all: Vec<Pair> = Vec::new();
    if wanted("smallvgg") {
        all.extend(pairs("smallvgg", &model::<SmallVgg>(1), 32, write));
    }
    if wanted("vgg16_bn") {
        all.extend(pairs("vgg16_bn", &model::<Vgg16Bn>(2), 4, write));
    }
    if wanted("resnet18") {
        all.extend(pairs("resnet18", &model::<ResNet18>(3), 4, write));
    }
    if !only_ratios {
        // Criterion reads the remaining arguments (a filter) itself.
        let mut c = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        for pair in &mut all {
            let mut group = c.benchmark_group(format!("tract_peer/{}", pair.name.split(' ').next().unwrap_or("")));
            group.bench_function("ours", |b| b.iter(|| (pair.ours)()));
            group.bench_function("tract", |b| b.iter(|| (pair.tract)()));
            group.finish();
        }
        c.final_summary();
    }
    println!("\nbatch 1, {THREADS} threads each; alternating blocks, medians (tract / ours above 1: ours faster)");
    for pair in &mut all {
        ratios(pair);
    }
}
