//! Layer benchmarks (criterion). Throughputs printed as "elem/s" are FLOP/s for the conv and GEMM
//! groups (one multiply-add = 2 FLOP) and images/s for the training step.
//!
//! - `conv_forward/b{64,1}/convN`, `conv_backward/b{64,1}/convN`: the slice-level conv kernels on
//!   each conv layer of DESIGN.md's SmallVgg (1→32, 32→32 at 28x28; 32→64, 64→64 at 14x14; all
//!   K3 S1 P1). Backward = input + weight + bias gradients (2x the forward FLOPs).
//! - `conv_layer_forward/b64/convN`: the same through the `Conv2D` module (adds dfdx tensor copies).
//! - `gemm_ceiling/2048`: `kernels::gemm` on 2048³ with every core: the machine's ceiling.
//! - `smallvgg_train_step/b64/{hand_bn,hand_fused_bn}`: forward + backward + Adam on a hand-wired SmallVgg
//!   (Conv2D, BatchNorm2D, a max-pool written below, reshape, dfdx Linear), batch 64; batch norm + ReLU
//!   either through the BatchNorm2D layer and dfdx's relu or through `ops::batch_norm2d` (one fused pass).
//!   The same step on the `#[derive(Compressible)]` SmallVgg a user writes is `benches/train_step.rs`.
//! - `cargo bench --bench layers -- breakdown`: no criterion; prints the median time per layer of
//!   the training step (forward and backward separately, via probe ops on the tape) and exits.
//!
//! - `cargo bench --bench layers -- cpu-time`: no criterion; conv and GEMM rates per wall second
//!   and per CPU second (robust when other jobs share the cores), then exits.
//!
//! Unless `BENCH_SYSTEM_MALLOC=1`, glibc is told to keep freed memory (see `keep_freed_memory`).
//!
//! The hand-wired model keeps an inline max-pool (2x2, stride 2: a plain loop parallel over planes with an
//! argmax scatter in backward) so the breakdown can time every piece; the derived model in
//! `benches/train_step.rs` uses the `MaxPool2D` layer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use fasterai::dfdx::nn::{ModuleVisitor, ZeroGrads};
use fasterai::dfdx::optim::{Adam, AdamConfig, Optimizer};
use fasterai::dfdx::prelude::*;
use fasterai::internals::kernels::{gemm, Accumulate, ConvGeometry, MatMut, MatRef, Parallelism};
use fasterai::nn::NnError;
use fasterai::nn::batch_norm2d_train;
use fasterai::internals::ops::batch_norm2d::Activation;
use fasterai::internals::ops::conv2d::{backward_kernel, conv2d_flops, forward_kernel, ConvProblem};
use fasterai::prelude::{BatchNorm2D, Conv2D, Linear};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rayon::prelude::*;

#[path = "support/mod.rs"]
mod support;
use support::{keep_freed_memory, process_cpu_seconds};

/// (name, in channels, out channels, image side) of SmallVgg's conv layers, all K3 S1 P1.
const VGG_CONVS: [(&str, usize, usize, usize); 4] = [
    ("conv1", 1, 32, 28),
    ("conv2", 32, 32, 28),
    ("conv3", 32, 64, 14),
    ("conv4", 64, 64, 14),
];

fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// One of [`VGG_CONVS`] at `batch` images: the problem, random input, weights, bias and output
/// gradient (drawn in that order), zeroed output and input-gradient buffers, and the forward FLOPs.
struct ConvCase {
    p: ConvProblem,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    g_out: Vec<f32>,
    out: Vec<f32>,
    g_in: Vec<f32>,
    flops: u64,
}

fn conv_case(batch: usize, (i, o, side): (usize, usize, usize), rng: &mut SmallRng) -> ConvCase {
    let geometry = ConvGeometry::new(i, side, side, 3, 1, 1).unwrap();
    let p = ConvProblem {
        batch,
        geometry,
        out_channels: o,
    };
    ConvCase {
        x: random(batch * p.in_image_len(), rng),
        w: random(p.weight_len(), rng),
        bias: random(o, rng),
        g_out: random(batch * p.out_image_len(), rng),
        out: vec![0.0; batch * p.out_image_len()],
        g_in: vec![0.0; batch * p.in_image_len()],
        flops: conv2d_flops(batch, &geometry, o),
        p,
    }
}

fn quick(c: &mut Criterion) -> &mut Criterion {
    c
}

fn conv_kernels(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(0);
    for batch in [64usize, 1] {
        for (name, i, o, side) in VGG_CONVS {
            let ConvCase { p, x, w, bias: b, g_out, mut out, mut g_in, flops } = conv_case(batch, (i, o, side), &mut rng);

            let mut group = c.benchmark_group(format!("conv_forward/b{batch}"));
            group.throughput(Throughput::Elements(flops));
            group.bench_function(name, |bench| {
                bench.iter(|| forward_kernel(&p, &x, &w, Some(&b), &mut out).unwrap())
            });
            group.finish();

            let mut group = c.benchmark_group(format!("conv_backward/b{batch}"));
            group.throughput(Throughput::Elements(2 * flops));
            group.bench_function(name, |bench| {
                bench.iter(|| black_box(backward_kernel(&p, &x, &w, &g_out, &mut g_in).unwrap()))
            });
            group.finish();
        }
    }
}

fn conv_layer_forward(c: &mut Criterion) {
    let dev = Cpu::default();
    let batch = 64;
    let mut group = c.benchmark_group("conv_layer_forward/b64");
    macro_rules! layer {
        ($name:literal, $i:literal, $o:literal, $side:literal) => {{
            let conv = dev.build_module::<Conv2D<$i, $o, 3, 1, 1>, f32>();
            let x: Tensor<(usize, Const<$i>, usize, usize), f32, _> =
                dev.sample_normal_like(&(batch, Const, $side, $side));
            let g = ConvGeometry::new($i, $side, $side, 3, 1, 1).unwrap();
            group.throughput(Throughput::Elements(conv2d_flops(batch, &g, $o)));
            group.bench_function($name, |bench| {
                bench.iter(|| conv.try_forward(x.clone()).unwrap())
            });
        }};
    }
    layer!("conv1", 1, 32, 28);
    layer!("conv2", 32, 32, 28);
    layer!("conv3", 32, 64, 14);
    layer!("conv4", 64, 64, 14);
    group.finish();
}

fn gemm_ceiling(c: &mut Criterion) {
    let n = 2048;
    let mut rng = SmallRng::seed_from_u64(1);
    let a = random(n * n, &mut rng);
    let b = random(n * n, &mut rng);
    let mut d = vec![0.0; n * n];
    let mut group = c.benchmark_group("gemm_ceiling");
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    for (label, par) in [
        ("all_cores", Parallelism::AllCores),
        ("one_thread", Parallelism::Sequential),
    ] {
        group.bench_function(BenchmarkId::new(label, n), |bench| {
            bench.iter(|| {
                gemm(
                    MatMut::col_major(&mut d, n, n).unwrap(),
                    MatRef::col_major(&a, n, n).unwrap(),
                    MatRef::col_major(&b, n, n).unwrap(),
                    Accumulate::Overwrite,
                    par,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// SmallVgg, built by hand.

type Images<const C: usize, T> = Tensor<(usize, Const<C>, usize, usize), f32, Cpu, T>;

/// 2x2 stride-2 max pool on the tape: forward keeps each window's argmax, backward scatters.
fn max_pool_2x2<const C: usize, T: Tape<f32, Cpu>>(x: Images<C, T>) -> Images<C, T> {
    let (batch, _, h, w) = *x.shape();
    let (oh, ow) = (h / 2, w / 2);
    let (x, mut tape) = x.split_tape();
    let mut xv = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut xv);
    let mut out = vec![0.0f32; batch * C * oh * ow];
    let mut arg = vec![0u32; out.len()];
    let planes = out
        .par_chunks_exact_mut(oh * ow)
        .zip(arg.par_chunks_exact_mut(oh * ow));
    planes.enumerate().for_each(|(plane, (o_plane, a_plane))| {
        let base = plane * h * w;
        for r in 0..oh {
            for c in 0..ow {
                let mut best = base + 2 * r * w + 2 * c;
                for idx in [best + 1, best + w, best + w + 1] {
                    if xv[idx] > xv[best] {
                        best = idx;
                    }
                }
                o_plane[r * ow + c] = xv[best];
                a_plane[r * ow + c] = best as u32;
            }
        }
    });
    let out = x.device().tensor_from_vec(out, (batch, Const::<C>, oh, ow));
    let (xg, og) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out = std::mem::take(&mut **grads.get_or_alloc_mut(&og)?);
        let g_in = grads.get_or_alloc_mut(&xg)?;
        for (&a, &g) in arg.iter().zip(&g_out) {
            g_in[a as usize] += g;
        }
        **grads.get_or_alloc_mut(&og)? = g_out;
        Ok(())
    });
    out.put_tape(tape)
}

/// An identity op that logs when the forward and the backward pass reach it.
type ProbeLog = Arc<Mutex<Vec<(&'static str, bool, Instant)>>>;

fn probe<S: Shape>(
    x: Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>,
    name: &'static str,
    log: &Option<ProbeLog>,
) -> Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>> {
    let Some(log) = log else { return x };
    log.lock().unwrap().push((name, false, Instant::now()));
    let (x, mut tape) = x.split_tape();
    let log = log.clone();
    tape.add_backward_op(move |_| {
        log.lock().unwrap().push((name, true, Instant::now()));
        Ok(())
    });
    x.put_tape(tape)
}

struct SmallVgg<E: Dtype = f32, D: Storage<E> = Cpu> {
    conv1: Conv2D<1, 32, 3, 1, 1, E, D>,
    bn1: BatchNorm2D<32, E, D>,
    conv2: Conv2D<32, 32, 3, 1, 1, E, D>,
    bn2: BatchNorm2D<32, E, D>,
    conv3: Conv2D<32, 64, 3, 1, 1, E, D>,
    bn3: BatchNorm2D<64, E, D>,
    conv4: Conv2D<64, 64, 3, 1, 1, E, D>,
    bn4: BatchNorm2D<64, E, D>,
    fc1: Linear<3136, 256, E, D>,
    fc2: Linear<256, 10, E, D>,
}

impl TensorCollection<f32, Cpu> for SmallVgg {
    type To<E2: Dtype, D2: Device<E2>> = SmallVgg<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        v: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        v.visit_fields(
            (
                (
                    Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                    Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                    Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                    Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
                ),
                (
                    Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                    Self::module("bn3", |s| &s.bn3, |s| &mut s.bn3),
                    Self::module("conv4", |s| &s.conv4, |s| &mut s.conv4),
                    Self::module("bn4", |s| &s.bn4, |s| &mut s.bn4),
                ),
                (
                    Self::module("fc1", |s| &s.fc1, |s| &mut s.fc1),
                    Self::module("fc2", |s| &s.fc2, |s| &mut s.fc2),
                ),
            ),
            |((conv1, bn1, conv2, bn2), (conv3, bn3, conv4, bn4), (fc1, fc2))| SmallVgg {
                conv1,
                bn1,
                conv2,
                bn2,
                conv3,
                bn3,
                conv4,
                bn4,
                fc1,
                fc2,
            },
        )
    }
}

type Taped<const C: usize> = Images<C, OwnedTape<f32, Cpu>>;

/// Batch norm then ReLU, with dfdx's `BatchNorm2D` ops or the fused op of this crate.
fn bn_relu<const C: usize>(
    bn: &mut BatchNorm2D<C>,
    x: Taped<C>,
    fused: bool,
) -> Result<Taped<C>, NnError> {
    if fused {
        batch_norm2d_train(x, bn, Activation::Relu)
    } else {
        Ok(bn.try_forward_mut(x)?.try_relu()?)
    }
}

/// Class scores of a batch, on the tape.
type Logits = Tensor<(usize, Const<10>), f32, Cpu, OwnedTape<f32, Cpu>>;

impl SmallVgg {
    fn train_logits(
        &mut self,
        x: Taped<1>,
        fused_bn: bool,
        log: &Option<ProbeLog>,
    ) -> Result<Logits, NnError> {
        let batch = x.shape().0;
        let x = probe(x, "conv1", log);
        let x = self.conv1.try_forward(x)?;
        let x = probe(x, "bn1+relu", log);
        let x = bn_relu(&mut self.bn1, x, fused_bn)?;
        let x = probe(x, "conv2", log);
        let x = self.conv2.try_forward(x)?;
        let x = probe(x, "bn2+relu", log);
        let x = bn_relu(&mut self.bn2, x, fused_bn)?;
        let x = probe(x, "pool1", log);
        let x = max_pool_2x2(x);
        let x = probe(x, "conv3", log);
        let x = self.conv3.try_forward(x)?;
        let x = probe(x, "bn3+relu", log);
        let x = bn_relu(&mut self.bn3, x, fused_bn)?;
        let x = probe(x, "conv4", log);
        let x = self.conv4.try_forward(x)?;
        let x = probe(x, "bn4+relu", log);
        let x = bn_relu(&mut self.bn4, x, fused_bn)?;
        let x = probe(x, "pool2", log);
        let x = max_pool_2x2(x);
        let x = probe(x, "reshape+fc1+relu", log);
        let x = x.try_reshape_like(&(batch, Const::<3136>))?;
        let x = self.fc1.try_forward(x)?.try_relu()?;
        let x = probe(x, "fc2", log);
        let x = self.fc2.try_forward(x)?;
        Ok(probe(x, "loss", log))
    }
}

struct Trainer {
    model: SmallVgg,
    opt: Adam<SmallVgg, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
    x: Tensor<(usize, Const<1>, usize, usize), f32, Cpu>,
    y: Tensor<(usize, Const<10>), f32, Cpu>,
    fused_bn: bool,
}

impl Trainer {
    fn new(batch: usize, fused_bn: bool) -> Self {
        let dev = Cpu::seed_from_u64(0);
        // dfdx's allocation cache only when asked (`DFDX_CACHE=1`): our layers' buffers fill it
        // without being reused (see benches/train_step.rs).
        if std::env::var_os("DFDX_CACHE").is_some() {
            dev.enable_cache();
        }
        let model = SmallVgg {
            conv1: dev.build_module::<Conv2D<1, 32, 3, 1, 1>, f32>(),
            bn1: BuildModule::build(&dev),
            conv2: dev.build_module::<Conv2D<32, 32, 3, 1, 1>, f32>(),
            bn2: BuildModule::build(&dev),
            conv3: dev.build_module::<Conv2D<32, 64, 3, 1, 1>, f32>(),
            bn3: BuildModule::build(&dev),
            conv4: dev.build_module::<Conv2D<64, 64, 3, 1, 1>, f32>(),
            bn4: BuildModule::build(&dev),
            fc1: BuildModule::build(&dev),
            fc2: BuildModule::build(&dev),
        };
        let opt = Adam::new(
            &model,
            AdamConfig {
                lr: 1e-3,
                ..Default::default()
            },
        );
        let grads = Some(model.alloc_grads());
        let x = dev.sample_normal_like(&(batch, Const::<1>, 28, 28));
        let mut rng = SmallRng::seed_from_u64(2);
        let mut one_hot = vec![0.0f32; batch * 10];
        for row in one_hot.chunks_exact_mut(10) {
            row[rng.gen_range(0..10)] = 1.0;
        }
        let y = dev.tensor_from_vec(one_hot, (batch, Const::<10>));
        Self {
            model,
            opt,
            grads,
            x,
            y,
            fused_bn,
        }
    }

    /// One forward + backward + Adam step; returns the time Adam took.
    fn step(&mut self, log: &Option<ProbeLog>) -> Duration {
        let grads = self
            .grads
            .take()
            .expect("gradients are put back after every step");
        let logits = self
            .model
            .train_logits(self.x.clone().traced(grads), self.fused_bn, log)
            .unwrap();
        let loss = cross_entropy_with_logits_loss(logits, self.y.clone());
        let mut grads = loss.backward();
        let adam = Instant::now();
        self.opt.update(&mut self.model, &grads).unwrap();
        let adam = adam.elapsed();
        self.model.zero_grads(&mut grads);
        self.grads = Some(grads);
        adam
    }
}

fn smallvgg_train_step(c: &mut Criterion) {
    let batch = 64;
    let mut group = c.benchmark_group("smallvgg_train_step/b64");
    group.throughput(Throughput::Elements(batch as u64));
    for (label, fused) in [("hand_bn", false), ("hand_fused_bn", true)] {
        let mut trainer = Trainer::new(batch, fused);
        group.bench_function(label, |bench| bench.iter(|| trainer.step(&None)));
    }
    group.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median per-layer forward and backward times of the batch-64 training step.
fn breakdown(fused_bn: bool) {
    let steps = 15;
    let mut trainer = Trainer::new(64, fused_bn);
    for _ in 0..3 {
        trainer.step(&None);
    }
    let mut per_layer: Vec<(&'static str, Vec<f64>, Vec<f64>)> = Vec::new();
    let (mut totals, mut adams) = (Vec::new(), Vec::new());
    let cpu_start = process_cpu_seconds();
    let wall_start = Instant::now();
    for _ in 0..steps {
        let log: ProbeLog = Arc::default();
        let start = Instant::now();
        let adam = trainer.step(&Some(log.clone()));
        let end = Instant::now() - adam;
        totals.push(start.elapsed().as_secs_f64() * 1e3);
        adams.push(adam.as_secs_f64() * 1e3);
        let log = log.lock().unwrap();
        let fwd: Vec<_> = log.iter().filter(|e| !e.1).collect();
        let bwd: Vec<_> = log.iter().filter(|e| e.1).collect();
        // Backward probes fire in reverse order; a layer's backward runs between its probe's
        // firing and the previous (later-layer) probe's firing.
        for (i, f) in fwd.iter().enumerate() {
            let f_end = fwd.get(i + 1).map_or(f.2, |n| n.2);
            let b = bwd.iter().position(|e| e.0 == f.0).unwrap();
            let b_start = if b == 0 { f.2 } else { bwd[b - 1].2 };
            let b_time = if b == 0 {
                Duration::ZERO
            } else {
                bwd[b].2 - b_start
            };
            let f_time = if i + 1 < fwd.len() {
                f_end - f.2
            } else {
                Duration::ZERO
            };
            if per_layer.len() <= i {
                per_layer.push((f.0, Vec::new(), Vec::new()));
            }
            per_layer[i].1.push(f_time.as_secs_f64() * 1e3);
            per_layer[i].2.push(b_time.as_secs_f64() * 1e3);
        }
        let _ = end;
    }
    let bn = if fused_bn {
        "fused batch norm + ReLU"
    } else {
        "dfdx BatchNorm2D + ReLU"
    };
    println!("SmallVgg training step, batch 64, {bn}, median of {steps} steps (ms):");
    println!("{:<20} {:>9} {:>9}", "layer", "forward", "backward");
    let (mut f_sum, mut b_sum) = (0.0, 0.0);
    for (name, f, b) in per_layer {
        let (f, b) = (median(f), median(b));
        f_sum += f;
        b_sum += b;
        println!("{name:<20} {f:>9.2} {b:>9.2}");
    }
    println!("{:<20} {:>9.2} {:>9.2}", "sum of layers", f_sum, b_sum);
    println!("{:<20} {:>9.2}", "adam", median(adams));
    let total = median(totals);
    println!(
        "{:<20} {:>9.2}  ({:.0} images/s)",
        "whole step",
        total,
        64.0 / total * 1e3
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_per_step = (process_cpu_seconds() - cpu_start) / steps as f64;
    let wall_per_step = wall_start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "CPU time per step {:.1} ms (wall {:.1} ms): {:.0} images per CPU-second x {threads} threads (idle-machine estimate)",
        cpu_per_step * 1e3,
        wall_per_step * 1e3,
        64.0 / cpu_per_step * threads
    );
}


/// Runs `f` for about a second; returns (FLOP per wall second, FLOP per CPU second).
fn rate(flops: u64, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (wall, cpu) = (Instant::now(), process_cpu_seconds());
    let mut n = 0u64;
    while wall.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), process_cpu_seconds() - cpu);
    let total = (flops * n) as f64;
    (total / wall, total / cpu.max(0.01))
}

/// Contention-robust figures: each conv measurement is interleaved with a GEMM-ceiling
/// measurement (1024³, all cores), three rounds, and the median ratio is printed, both per wall
/// second and per CPU second (FLOP per CPU-second × threads estimates an idle machine).
fn cpu_time_rates() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut rng = SmallRng::seed_from_u64(0);
    let n = 1024;
    let a = random(n * n, &mut rng);
    let b = random(n * n, &mut rng);
    let mut d = vec![0.0; n * n];
    let mut ceiling = || {
        rate(2 * (n * n * n) as u64, || {
            gemm(
                MatMut::col_major(&mut d, n, n).unwrap(),
                MatRef::col_major(&a, n, n).unwrap(),
                MatRef::col_major(&b, n, n).unwrap(),
                Accumulate::Overwrite,
                Parallelism::AllCores,
            )
            .unwrap()
        })
    };
    println!("median of 3 interleaved rounds; GFLOP/s per wall second | per CPU second x {threads} (idle estimate); % of the GEMM ceiling measured alongside");
    for batch in [64usize, 1] {
        // Σ FLOP and Σ FLOP / (fraction of the ceiling) over the layers: the whole forward's fraction.
        let (mut all_flops, mut ceiling_flops) = (0.0f64, 0.0f64);
        for (name, i, o, side) in VGG_CONVS {
            let ConvCase { p, x, w, bias, g_out, mut out, mut g_in, flops } = conv_case(batch, (i, o, side), &mut rng);
            let mut rows: Vec<[f64; 6]> = Vec::new();
            for _ in 0..3 {
                let (cw, cc) = ceiling();
                let (fw, fc) = rate(flops, || {
                    forward_kernel(&p, &x, &w, Some(&bias), &mut out).unwrap()
                });
                let (bw, bc) = rate(2 * flops, || {
                    black_box(backward_kernel(&p, &x, &w, &g_out, &mut g_in).unwrap());
                });
                rows.push([fw, fc * threads, fc / cc, bw, bc * threads, bc / cc]);
                let _ = cw;
            }
            let med = |k: usize| median(rows.iter().map(|r| r[k]).collect());
            all_flops += flops as f64;
            ceiling_flops += flops as f64 / med(2);
            println!(
                "b{batch:<2} {name}  forward {:>6.1} | {:>6.1} GFLOP/s ({:>3.0}% of ceiling)   backward {:>6.1} | {:>6.1} GFLOP/s ({:>3.0}%)",
                med(0) / 1e9, med(1) / 1e9, 100.0 * med(2), med(3) / 1e9, med(4) / 1e9, 100.0 * med(5)
            );
        }
        println!(
            "b{batch:<2} all four convs forward, time-weighted: {:.0}% of ceiling",
            100.0 * all_flops / ceiling_flops
        );
    }
    let (cw, cc) = ceiling();
    println!(
        "gemm 1024^3 ceiling: {:.1} GFLOP/s per wall second | {:.1} per CPU second x {threads}",
        cw / 1e9,
        cc * threads / 1e9
    );
}

/// A fixed amount of work (20 forward and 20 backward passes of conv2–conv4 at batch 64) for
/// `perf stat -e cycles:u` comparisons, which are less sensitive to other jobs than wall time.
fn fixed_work() {
    let mut rng = SmallRng::seed_from_u64(0);
    for (_, i, o, side) in &VGG_CONVS[1..] {
        let geometry = ConvGeometry::new(*i, *side, *side, 3, 1, 1).unwrap();
        let p = ConvProblem {
            batch: 64,
            geometry,
            out_channels: *o,
        };
        let x = random(64 * p.in_image_len(), &mut rng);
        let w = random(p.weight_len(), &mut rng);
        let g_out = random(64 * p.out_image_len(), &mut rng);
        let mut out = vec![0.0; 64 * p.out_image_len()];
        let mut g_in = vec![0.0; 64 * p.in_image_len()];
        for _ in 0..20 {
            forward_kernel(&p, &x, &w, None, &mut out).unwrap();
            black_box(backward_kernel(&p, &x, &w, &g_out, &mut g_in).unwrap());
        }
    }
}


fn main() {
    keep_freed_memory();
    if std::env::args().any(|a| a == "breakdown") {
        breakdown(false);
        breakdown(true);
        return;
    }
    if std::env::args().any(|a| a == "fixed-work") {
        fixed_work();
        return;
    }
    if std::env::args().any(|a| a == "cpu-time") {
        cpu_time_rates();
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let c = quick(&mut c);
    conv_kernels(c);
    conv_layer_forward(c);
    gemm_ceiling(c);
    smallvgg_train_step(c);
    c.final_summary();
}
