//! Batch-1 inference latency of DESIGN.md's SmallVgg (1×28×28), four ways in one run:
//! the dfdx eval forward of the derived model, the fp32 `accelerate` plan, and the int8 plan
//! (`quantize_static`, calibrated on 32 random images), plus the fp32 plan with dynamically quantized
//! linear layers (`quantize_dynamic`). Random weights and BatchNorm statistics:
//! latency does not depend on the values.
//!
//! The same three ways for VGG16-BN at 3×128×128 (random weights), the model of the ONNX Runtime
//! reference figures, and the dfdx forward and fp32 plan of ResNet-18 at 3×224×224.
//!
//! `cargo bench --bench inference` (`-- --warm-up-time 1 --measurement-time 3` for a quick run;
//! `-- smallvgg`, `-- vgg16` or `-- resnet18` for one model).
//! Compare them as ratios measured in the same run: the machine is shared. ONNX Runtime's figures on
//! the same architectures come from `python3 benches/onnxruntime_reference.py`, run in the same hour;
//! `python3 benches/onnxruntime_reference.py alternate` interleaves SmallVgg's plans (this bench with
//! `-- --serve`) with ONNX Runtime's, round by round. `-- --bands` compares SmallVgg's plans with
//! and without the band schedule, alternating in one process. `-- --tables` compares the fp32
//! plan and the int8 plan on every SIMD int8 kernel table of the CPU (under `FASTERAI_MAX_ISA`), on
//! both models with dfdx's uniform weights and with normal ones, alternating in one process;
//! `-- --plan-cpu <model> <law> <blocks>` does the same for one of them in CPU time (for a shared,
//! loaded machine; with `RAYON_NUM_THREADS=1`). `-- --nodes <smallvgg|resnet18|vgg16|digits> [runs]` prints the median
//! time of every node of both plans. `-- --eager <smallvgg|vgg16|resnet18> [runs]` prints the median
//! of the derived model's eager forward (no tape), the figure `benches/pytorch_reference.py
//! alternate` puts beside PyTorch's.

use std::time::Duration;

use criterion::Criterion;
use fasterai::deploy::{accelerate, quantize_dynamic, quantize_static, Accelerated, Int8Model, QuantizeOptions};
use fasterai::model::{read_tensors, write_tensors};
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

/// A SmallVgg whose BatchNorms have random statistics (variances kept positive).
fn model(dev: &Cpu) -> SmallVgg {
    let mut model = dev.build_module::<SmallVgg, f32>();
    let mut rng = SmallRng::seed_from_u64(1);
    let updates: Vec<(String, Vec<f32>)> = read_tensors(&model)
        .into_iter()
        .filter(|t| t.name.starts_with("bn"))
        .map(|t| {
            let var = t.name.ends_with("running_var");
            let values = (0..t.numel()).map(|_| if var { rng.gen_range(0.5..2.0) } else { rng.gen_range(-0.5..0.5) }).collect();
            (t.name, values)
        })
        .collect();
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(&mut model, &borrowed).expect("SmallVgg's BatchNorm tensors");
    model
}

fn images(n: usize, seed: u64) -> Vec<f32> {
    random_images(n * 784, seed)
}

fn random_images(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(0.0..1.0)).collect()
}

/// VGG16-BN at batch 1: dfdx forward, fp32 plan, int8 plan (calibrated on 4 random images).
fn vgg16_inference(c: &mut Criterion) {
    let dev = Cpu::default();
    let model = dev.build_module::<Vgg16Bn, f32>();
    let image = random_images(3 * 128 * 128, 4);
    let x: Tensor<(usize, Const<3>, Const<128>, Const<128>), f32, Cpu> =
        dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let mut fp32 = accelerate(&model).expect("VGG16-BN runs on the fp32 plan");
    let calibration = random_images(4 * 3 * 128 * 128, 5);
    let mut int8 = quantize_static(&model, &calibration, 4, QuantizeOptions::default()).expect("VGG16-BN quantizes");

    let mut group = c.benchmark_group(format!("vgg16_bn_inference/b1/{}threads", rayon::current_num_threads()));
    group.sample_size(10);
    group.bench_function("dfdx_forward", |b| b.iter(|| model.forward(x.clone())));
    group.bench_function("fp32_accelerated", |b| b.iter(|| fp32.run(&image).map(|y| y[0])));
    group.bench_function("int8_accelerated", |b| b.iter(|| int8.run(&image).map(|y| y[0])));
    group.finish();
}

/// torchvision's ResNet-18 (10 classes) at 3×224×224, batch 1: dfdx forward, fp32 plan, int8 plan
/// (calibrated on 2 random images).
fn resnet18_inference(c: &mut Criterion) {
    let dev = Cpu::default();
    let model = dev.build_module::<ResNet18, f32>();
    let image = random_images(3 * 224 * 224, 6);
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> =
        dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let (mut fp32, mut int8, _) = resnet18_plans();

    let mut group = c.benchmark_group(format!("resnet18_inference/b1/{}threads", rayon::current_num_threads()));
    group.sample_size(20);
    group.bench_function("dfdx_forward", |b| b.iter(|| model.forward(x.clone())));
    group.bench_function("fp32_accelerated", |b| b.iter(|| fp32.run(&image).map(|y| y[0])));
    group.bench_function("int8_accelerated", |b| b.iter(|| int8.run(&image).map(|y| y[0])));
    group.finish();
}

fn inference(c: &mut Criterion) {
    let dev = Cpu::default();
    let model = model(&dev);
    let image = images(1, 2);
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let mut fp32 = accelerate(&model).expect("SmallVgg runs on the fp32 plan");
    let mut dynamic = quantize_dynamic(&model).expect("SmallVgg's linear layers quantize");
    let mut int8 = quantize_static(&model, &images(32, 3), 32, QuantizeOptions::default()).expect("SmallVgg quantizes");

    let mut group = c.benchmark_group(format!("smallvgg_inference/b1/{}threads", rayon::current_num_threads()));
    group.bench_function("dfdx_forward", |b| b.iter(|| model.forward(x.clone())));
    group.bench_function("fp32_accelerated", |b| b.iter(|| fp32.run(&image).map(|y| y[0])));
    group.bench_function("fp32_conv_int8_dynamic_linear", |b| b.iter(|| dynamic.run(&image).map(|y| y[0])));
    group.bench_function("int8_accelerated", |b| b.iter(|| int8.run(&image).map(|y| y[0])));
    // The same plans with every layer split over the threads on its own (no bands): the baseline
    // of the band schedule, measured in the same process.
    fp32.set_bands(false);
    int8.set_bands(false);
    group.bench_function("fp32_layer_by_layer", |b| b.iter(|| fp32.run(&image).map(|y| y[0])));
    group.bench_function("int8_layer_by_layer", |b| b.iter(|| int8.run(&image).map(|y| y[0])));
    group.finish();
}

/// SmallVgg's fp32 and int8 plans (the int8 one calibrated on 32 random images) and an image.
fn small_vgg_plans() -> (Accelerated<SmallVgg>, Int8Model<SmallVgg>, Vec<f32>) {
    let model = model(&Cpu::default());
    let fp32 = accelerate(&model).expect("SmallVgg runs on the fp32 plan");
    let int8 = quantize_static(&model, &images(32, 3), 32, QuantizeOptions::default()).expect("SmallVgg quantizes");
    (fp32, int8, images(1, 2))
}

/// `-- --serve` (`-- --serve resnet18` for ResNet-18): for `benches/onnxruntime_reference.py alternate`. Builds SmallVgg's two plans,
/// prints `ready`, then for every count `n` read from stdin runs each plan `n` times and prints the
/// two medians in ms (fp32, int8); 0 or end of input stops. Rounds alternate with ONNX Runtime's in
/// the same seconds, so the VM's drift does not pick the winner.
fn serve() {
    if std::env::args().any(|a| a == "resnet18") {
        let (fp32, int8, image) = resnet18_plans();
        return serve_plans(fp32, int8, image);
    }
    let (fp32, int8, image) = small_vgg_plans();
    serve_plans(fp32, int8, image)
}

/// ResNet-18's fp32 and int8 plans (random weights, the int8 one calibrated on 2 random images) and an image.
fn resnet18_plans() -> (Accelerated<ResNet18>, Int8Model<ResNet18>, Vec<f32>) {
    let model = Cpu::default().build_module::<ResNet18, f32>();
    let fp32 = accelerate(&model).expect("ResNet-18 runs on the fp32 plan");
    let int8 = quantize_static(&model, &random_images(2 * 3 * 224 * 224, 5), 2, QuantizeOptions::default()).expect("ResNet-18 quantizes");
    (fp32, int8, random_images(3 * 224 * 224, 6))
}

/// The `--serve` loop over one model's two plans.
fn serve_plans<M>(mut fp32: Accelerated<M>, mut int8: Int8Model<M>, image: Vec<f32>) {
    use std::io::BufRead;
    let median = |run: &mut dyn FnMut() -> f32, n: usize| {
        for _ in 0..n / 10 {
            std::hint::black_box(run());
        }
        let mut ms: Vec<f64> = (0..n)
            .map(|_| {
                let start = std::time::Instant::now();
                std::hint::black_box(run());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[n / 2]
    };
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let n: usize = line.map_or(0, |l| l.trim().parse().unwrap_or(0));
        if n == 0 {
            break;
        }
        let f = median(&mut || fp32.run(&image).expect("an image of the input's size")[0], n);
        let q = median(&mut || int8.run(&image).expect("an image of the input's size")[0], n);
        println!("{f:.4} {q:.4}");
    }
}

/// `-- --bands`: SmallVgg's plans with the band schedule on and off, alternating 200 blocks of 50
/// runs in this one process (so the VM's drift hits both alike); prints the medians of the per-run
/// means and of the per-block ratios.
fn bands_against_layers() {
    let (mut fp32, mut int8, image) = small_vgg_plans();
    println!("banded layers: fp32 {:?}, int8 {:?}", fp32.banded_layers(), int8.banded_layers());
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (blocks, runs) = (200, 50);
    // [fp32 on, fp32 off, int8 on, int8 off]: µs per run of each block.
    let mut us: [Vec<f64>; 4] = Default::default();
    for _ in 0..blocks {
        for (k, on) in [(0, true), (1, false)] {
            fp32.set_bands(on);
            int8.set_bands(on);
            let start = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(fp32.run(&image).expect("an image of the input's size")[0]);
            }
            us[k].push(start.elapsed().as_secs_f64() * 1e6 / runs as f64);
            let start = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(int8.run(&image).expect("an image of the input's size")[0]);
            }
            us[k + 2].push(start.elapsed().as_secs_f64() * 1e6 / runs as f64);
        }
    }
    for (name, on, off) in [("fp32", 0, 1), ("int8", 2, 3)] {
        let ratio = median(us[on].iter().zip(&us[off]).map(|(a, b)| a / b).collect());
        println!("{name}: bands {:.1} µs, layer by layer {:.1} µs; bands/layers per block, median {ratio:.3}", median(us[on].clone()), median(us[off].clone()));
    }
}

/// The model's conv and linear weights redrawn from a normal law (torchvision's VGG init,
/// `kaiming_normal_` over fan-out; bell-shaped as trained weights are), instead of dfdx's uniform one.
fn normal_weights<M: TensorCollection<f32, Cpu>>(model: &mut M, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let updates: Vec<(String, Vec<f32>)> = read_tensors(model)
        .into_iter()
        .filter(|t| t.name.ends_with("weight") && t.shape.len() >= 2)
        .map(|t| {
            let fan_out = t.shape[0] * t.shape[2..].iter().product::<usize>();
            let sigma = (2.0 / fan_out as f32).sqrt();
            // Box–Muller.
            let values = (0..t.numel())
                .map(|_| {
                    let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
                    sigma * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
                })
                .collect();
            (t.name, values)
        })
        .collect();
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(model, &borrowed).expect("the model's weight tensors");
}

/// The fp32 plan, then the int8 plan on the best int8 table and on every other SIMD table of the
/// CPU, as boxed runs on `image`, with their names.
#[allow(clippy::type_complexity)]
fn plans_on_every_table<M>(model: &M, calibration: &[f32], n: usize, image: Vec<f32>) -> (Vec<Box<dyn FnMut()>>, Vec<String>)
where
    M: Compressible + TensorCollection<f32, Cpu> + 'static,
{
    use fasterai::internals::kernels::int8::Int8Kernels;
    let mut fp32 = accelerate(model).expect("the model runs on the fp32 plan");
    let int8 = quantize_static(model, calibration, n, QuantizeOptions::default()).expect("the model quantizes");
    let mut names = vec!["fp32".to_string()];
    let img = image.clone();
    let mut runs: Vec<Box<dyn FnMut()>> = vec![Box::new(move || drop(std::hint::black_box(fp32.run(&img).map(|y| y[0]))))];
    let others = Int8Kernels::available().into_iter().filter(|k| !k.name.starts_with("generic") && k.name != int8.kernels_name());
    for k in std::iter::once(None).chain(others.map(Some)) {
        let mut plan = match k {
            None => int8.clone(),
            Some(k) => int8.with_kernels(k).expect("repacks"),
        };
        names.push(format!("int8 {}", plan.kernels_name()));
        let img = image.clone();
        runs.push(Box::new(move || drop(std::hint::black_box(plan.run(&img).map(|y| y[0])))));
    }
    (runs, names)
}

/// `-- --tables`: per model and weight law, the fp32 plan, the int8 plan on the best int8 kernel
/// table and the same int8 plan on every other SIMD table of the CPU (under `FASTERAI_MAX_ISA`),
/// alternating blocks of runs in this one process; prints the medians of the per-block means and
/// of the per-block ratios.
fn tables_against_each_other() {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |run: &mut dyn FnMut(), n: usize| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            run();
        }
        start.elapsed().as_secs_f64() * 1e3 / n as f64
    };
    let dev = Cpu::default();
    for (name, normal) in [("smallvgg", false), ("smallvgg", true), ("vgg16_bn", false), ("vgg16_bn", true)] {
        let law = if normal { "normal" } else { "uniform" };
        let ((mut runs, names), blocks, per_block) = if name == "smallvgg" {
            let mut m = model(&dev);
            if normal {
                normal_weights(&mut m, 7);
            }
            (plans_on_every_table(&m, &images(32, 3), 32, images(1, 2)), 60, 100)
        } else {
            let mut m = dev.build_module::<Vgg16Bn, f32>();
            if normal {
                normal_weights(&mut m, 8);
            }
            (plans_on_every_table(&m, &random_images(4 * 3 * 128 * 128, 5), 4, random_images(3 * 128 * 128, 4)), 15, 3)
        };
        for run in runs.iter_mut() {
            time(run.as_mut(), per_block);
        }
        let mut ms: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
        for _ in 0..blocks {
            for (run, ms) in runs.iter_mut().zip(&mut ms) {
                ms.push(time(run.as_mut(), per_block));
            }
        }
        println!("{name} ({law} weights), {blocks} blocks of {per_block} runs:");
        for (i, n) in names.iter().enumerate() {
            let vs_best = median(ms[i].iter().zip(&ms[1]).map(|(a, b)| a / b).collect());
            let fp32_over = median(ms[0].iter().zip(&ms[i]).map(|(a, b)| a / b).collect());
            println!("  {n:<32} {:>9.3} ms   time / best int8 {vs_best:.3}   fp32 / this {fp32_over:.3}", median(ms[i].clone()));
        }
    }
}

/// CPU time this process has used, in ms (`utime + stime` of `/proc/self/stat`, at Linux's 100
/// ticks per second): unlike wall time, not stretched when other processes share the cores.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux's /proc/self/stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("the command name ends with ')'").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 * 10.0
}

/// `-- --plan-cpu <smallvgg|vgg16_bn> <uniform|normal> <blocks>`: as `--tables` for one model and
/// weight law, timed in CPU time per run ([`cpu_ms`]) instead of wall time, the plans' order
/// reversed every other block. Run it with `RAYON_NUM_THREADS=1`: one thread, no helper spinning,
/// so CPU time is the work, whatever else the machine runs.
fn plans_in_cpu_time(args: &[String]) {
    let [name, law, blocks] = args else { panic!("--plan-cpu <smallvgg|vgg16_bn> <uniform|normal> <blocks>") };
    let blocks: usize = blocks.parse().expect("a count of blocks");
    let dev = Cpu::default();
    let ((mut runs, names), per_block) = if name == "smallvgg" {
        let mut m = model(&dev);
        if law == "normal" {
            normal_weights(&mut m, 7);
        }
        (plans_on_every_table(&m, &images(32, 3), 32, images(1, 2)), 2000)
    } else {
        let mut m = dev.build_module::<Vgg16Bn, f32>();
        if law == "normal" {
            normal_weights(&mut m, 8);
        }
        (plans_on_every_table(&m, &random_images(4 * 3 * 128 * 128, 5), 4, random_images(3 * 128 * 128, 4)), 8)
    };
    // Blocks of about a second: the CPU clock ticks every 10 ms.
    let mut ms: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for block in 0..blocks + 1 {
        let mut order: Vec<usize> = (0..runs.len()).collect();
        if block % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let start = cpu_ms();
            for _ in 0..per_block {
                runs[i]();
            }
            if block > 0 {
                ms[i].push((cpu_ms() - start) / per_block as f64); // block 0 warms up
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("{name} ({law} weights), {blocks} blocks of {per_block} runs, CPU ms per run:");
    for (i, n) in names.iter().enumerate() {
        let vs_best = median(ms[i].iter().zip(&ms[1]).map(|(a, b)| a / b).collect());
        let fp32_over = median(ms[0].iter().zip(&ms[i]).map(|(a, b)| a / b).collect());
        println!("  {n:<32} {:>9.3} ms   time / best int8 {vs_best:.3}   fp32 / this {fp32_over:.3}", median(ms[i].clone()));
    }
}

/// `-- --nodes <smallvgg|resnet18|vgg16|digits> [runs]`: the median time of every node (or band segment) of the
/// fp32 and int8 plans, in ms, with each plan's total.
fn node_times(args: &[String]) {
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(50);
    let (fp32_times, int8_times, table) = if args.first().is_some_and(|a| a == "digits") {
        let model = Cpu::default().build_module::<resnet::DigitsResNet, f32>();
        let mut fp32 = accelerate(&model).expect("the digits ResNet runs on the fp32 plan");
        let mut int8 = quantize_static(&model, &random_images(8 * 64, 5), 8, QuantizeOptions::default()).expect("it quantizes");
        let image = random_images(64, 6);
        (fp32.node_times(&image, runs), int8.node_times(&image, runs), int8.kernels_name())
    } else if args.first().is_some_and(|a| a == "resnet18") {
        let (mut fp32, mut int8, image) = resnet18_plans();
        (fp32.node_times(&image, runs), int8.node_times(&image, runs), int8.kernels_name())
    } else if args.first().is_some_and(|a| a == "vgg16") {
        let mut model = Cpu::default().build_module::<Vgg16Bn, f32>();
        normal_weights(&mut model, 8);
        let mut fp32 = accelerate(&model).expect("VGG16-BN runs on the fp32 plan");
        let calibration = random_images(4 * 3 * 128 * 128, 5);
        let mut int8 = quantize_static(&model, &calibration, 4, QuantizeOptions::default()).expect("VGG16-BN quantizes");
        let image = random_images(3 * 128 * 128, 4);
        (fp32.node_times(&image, runs), int8.node_times(&image, runs), int8.kernels_name())
    } else {
        let (mut fp32, mut int8, image) = small_vgg_plans();
        (fp32.node_times(&image, runs), int8.node_times(&image, runs), int8.kernels_name())
    };
    for (name, times) in [("fp32", fp32_times), ("int8", int8_times)] {
        let times = times.expect("the plan runs");
        let total: f64 = times.iter().map(|t| t.1).sum();
        println!("{name} ({table}): {total:.3} ms over {} nodes", times.len());
        for (node, ms) in times {
            println!("  {node:<28} {:>9.1} µs", ms * 1e3);
        }
    }
}

/// The median of `runs` calls of `f` (after a tenth as many untimed), in ms.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..(runs / 10).max(2) {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// `-- --eager <smallvgg|vgg16|resnet18> [runs]`: the derived model's eager forward at batch 1 (no
/// tape: the fused batch norm + ReLU, the direct convolutions), as a median in ms.
/// The median of `runs` eager forwards of `model` on one `[C, H, W]` image, and `runs`.
fn eager_median<M, const C: usize, const H: usize, const W: usize>(model: &M, image: Vec<f32>, runs: usize) -> (f64, usize)
where
    M: Module<Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu>>,
{
    let x: Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu> = Cpu::default().tensor_from_vec(image, (1, Const, Const, Const));
    (median_ms(runs, || drop(model.forward(x.clone()))), runs)
}

fn eager_forward(args: &[String]) {
    let name = args.first().map(String::as_str).unwrap_or("smallvgg");
    let dev = Cpu::default();
    let runs_or = |default: usize| args.get(1).map_or(default, |r| r.parse().expect("a count of runs"));
    let (ms, runs) = match name {
        "smallvgg" => eager_median::<_, 1, 28, 28>(&model(&dev), images(1, 2), runs_or(300)),
        "vgg16" => eager_median::<_, 3, 128, 128>(&dev.build_module::<Vgg16Bn, f32>(), random_images(3 * 128 * 128, 4), runs_or(30)),
        "resnet18" => eager_median::<_, 3, 224, 224>(&dev.build_module::<ResNet18, f32>(), random_images(3 * 224 * 224, 6), runs_or(40)),
        other => panic!("--eager takes smallvgg, vgg16 or resnet18, not {other:?}"),
    };
    if std::env::var_os("EAGER_CPU").is_some() {
        eprintln!("cpu per run: {:.3} ms", cpu_ms() / (runs + (runs / 10).max(2)) as f64);
    }
    println!("{name} eager forward b1 ({} threads, median of {runs}): {ms:.3} ms", rayon::current_num_threads());
}

fn main() {
    keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--eager") {
        return eager_forward(&args[at + 1..]);
    }
    if let Some(at) = args.iter().position(|a| a == "--nodes") {
        return node_times(&args[at + 1..]);
    }
    if let Some(at) = args.iter().position(|a| a == "--plan-cpu") {
        return plans_in_cpu_time(&args[at + 1..]);
    }
    if std::env::args().any(|a| a == "--tables") {
        return tables_against_each_other();
    }
    if std::env::args().any(|a| a == "--serve") {
        return serve();
    }
    if std::env::args().any(|a| a == "--bands") {
        return bands_against_layers();
    }
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    inference(&mut c);
    vgg16_inference(&mut c);
    resnet18_inference(&mut c);
    c.final_summary();
}
