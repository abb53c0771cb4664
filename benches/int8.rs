//! int8 GEMM throughput against the fp32 GEMM of the same shape (the `gemm` crate), in one run.
//!
//! Shapes are the convolutions of SmallVgg (1x28x28) and VGG16-BN (3x128x128) at batch 1, as
//! `M = out channels`, `K = 9·in channels`, `N = OH·OW`. Throughput is reported in elements/s
//! where one element is one operation (a multiply-add counts 2), i.e. GOPS for int8, GFLOP/s for fp32.
//! The int8 time includes packing the activations (done on every call); the weights are packed once.
//! Each int8 table runs uniform weights and normal ones (`uniform_*`, `normal_*`): the AVX2
//! `vpmaddubsw` table packs the second kind split and runs the first on its `i16`-pair fallback.
//!
//! A second group measures batch-1 Linear layers: the int8 matrix-vector kernel against the fp32
//! GEMM with one column (and the int8 GEMM with one column, to show why the GEMV exists).
//!
//! `cargo bench --bench int8` (all threads of the machine), or `-- smallvgg`, `-- linear` to filter.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use fasterai_runtime::kernels::int8::{GemvScratch, Int8Kernels, Split};
use fasterai_runtime::kernels::pack_i8::PackedRowsI8;
use fasterai_runtime::quant::{ActivationQParams, OutputStage, QuantizedWeights};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::time::Duration;

/// (name, M, K, N)
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("smallvgg_conv2_32x288x784", 32, 288, 784),
    ("smallvgg_conv3_64x288x196", 64, 288, 196),
    ("smallvgg_conv4_64x576x196", 64, 576, 196),
    ("vgg16_64x576x16384", 64, 576, 16384),
    ("vgg16_256x2304x1024", 256, 2304, 1024),
    ("vgg16_512x4608x64", 512, 4608, 64),
];

fn fp32_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: row-major a (m×k), b (k×n), c (m×n) with the strides given; the lengths match.
    unsafe {
        gemm::gemm(
            m, n, k, c.as_mut_ptr(), 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr(), 1, n as isize, 0.0, 1.0,
            false, false, false, par,
        )
    }
}

fn bench(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    // The SIMD tables this CPU runs (the portable ones are far slower and only there as twins).
    let simd: Vec<Int8Kernels> = Int8Kernels::available().into_iter().filter(|k| !k.name.starts_with("generic")).collect();
    let best = Int8Kernels::best();
    eprintln!("int8 kernels: {:?} (best {}); {threads} threads", simd.iter().map(|k| k.name).collect::<Vec<_>>(), best.name);
    let mut rng = SmallRng::seed_from_u64(1);
    for &(name, m, k, n) in SHAPES {
        let mut group = c.benchmark_group(name);
        group
            .throughput(Throughput::Elements((2 * m * n * k) as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));

        let af: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let bf: Vec<f32> = (0..k * n).map(|_| rng.gen_range(0.0..1.0)).collect();
        let mut cf = vec![0f32; m * n];
        for t in [1, threads] {
            group.bench_function(BenchmarkId::new("f32_gemm_crate", format!("{t}t")), |bch| {
                bch.iter(|| fp32_gemm(m, n, k, &af, &bf, &mut cf, t))
            });
        }

        let qw = QuantizedWeights::quantize(&af, m).unwrap();
        let input = ActivationQParams::from_range(0.0, 1.0).unwrap();
        let output = ActivationQParams::from_range(0.0, 8.0).unwrap();
        let stage = OutputStage::new(input, &qw, None, output, true).unwrap();
        let bq = input.quantize_slice(&bf);
        let mut out = vec![0u8; m * n];
        // Bell-shaped weights too (normal, as trained ones are): `vpmaddubsw` tables pack them split,
        // uniform ones on their exact fallback.
        let normal: Vec<f32> = (0..m * k)
            .map(|_| {
                let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        let qn = QuantizedWeights::quantize(&normal, m).unwrap();
        for (kernels, (law, weights)) in simd.iter().flat_map(|k| [("uniform", &qw), ("normal", &qn)].map(|w| (k, w))) {
            let packed = kernels.pack_weights(&weights.values, m, k).unwrap();
            let mut pb = kernels.activations_for(&packed);
            // Every split for the best kernels, to see which one scales; one thread and auto for the others.
            let splits: &[(Split, &str)] = match (threads > 1, kernels.name == best.name) {
                (false, _) => &[(Split::Sequential, "1t")],
                (true, true) => &[(Split::Sequential, "1t"), (Split::Rows, "rows"), (Split::Columns, "cols"), (Split::Auto, "auto")],
                (true, false) => &[(Split::Sequential, "1t"), (Split::Auto, "auto")],
            };
            for &(split, label) in splits {
                group.bench_function(BenchmarkId::new(format!("i8_{}", kernels.name), format!("{law}_{label}")), |bch| {
                    bch.iter(|| {
                        pb.pack(&bq, k, n).unwrap();
                        kernels.gemm_u8(&packed, &pb, &stage, &mut out, split).unwrap();
                    })
                });
            }
        }
        group.finish();
    }
}

/// Batch-1 Linear layers: (name, out features, in features). SmallVgg's fc1, VGG16-BN's middle FC.
const LINEARS: &[(&str, usize, usize)] = &[("linear_smallvgg_fc1_256x3136", 256, 3136), ("linear_vgg16_fc_4096x4096", 4096, 4096)];

/// int8 matrix-vector product against the fp32 GEMM with `n = 1`, and the int8 GEMM with `n = 1`.
fn bench_linear(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(2);
    let simd: Vec<Int8Kernels> = Int8Kernels::available().into_iter().filter(|k| !k.name.starts_with("generic")).collect();
    for &(name, m, k) in LINEARS {
        let mut group = c.benchmark_group(name);
        group
            .throughput(Throughput::Elements((2 * m * k) as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        let af: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let xf: Vec<f32> = (0..k).map(|_| rng.gen_range(0.0..1.0)).collect();
        let mut yf = vec![0f32; m];
        group.bench_function("f32_gemm_crate/1t", |b| b.iter(|| fp32_gemm(m, 1, k, &af, &xf, &mut yf, 1)));
        let qw = QuantizedWeights::quantize(&af, m).unwrap();
        let rows = PackedRowsI8::new(&qw.values, m, k).unwrap();
        let x: Vec<u8> = xf.iter().map(|&v| (v * 255.0) as u8).collect();
        let mut y = vec![0i32; m];
        let mut scratch = GemvScratch::default();
        for kernels in &simd {
            group.bench_function(BenchmarkId::new(format!("i8_gemv_{}", kernels.name), "1t"), |b| {
                b.iter(|| kernels.gemv_i32(&rows, &x, &mut y, &mut scratch).unwrap())
            });
            let packed = kernels.pack_weights(&qw.values, m, k).unwrap();
            let mut pb = kernels.activations_for(&packed);
            group.bench_function(BenchmarkId::new(format!("i8_gemm_n1_{}", kernels.name), "1t"), |b| {
                b.iter(|| {
                    pb.pack(&x, k, 1).unwrap();
                    kernels.gemm_i32(&packed, &pb, &mut y, Split::Sequential).unwrap()
                })
            });
        }
        group.finish();
    }
}

/// `-- --loop <table> <uniform|normal|narrow> <reps> [filter]`: one thread runs `reps` products of each
/// shape of [`SHAPES`] (whose name contains `filter`) on one table, packing included, and prints the multiply-adds; nothing else. Run it
/// under `perf stat -e cycles:u` to compare tables in cycles, which a shared, loaded machine does
/// not distort as it does wall time.
fn kernel_loop(args: &[String]) {
    let (table, law, reps, filter) = match args {
        [table, law, reps] => (table, law, reps, ""),
        [table, law, reps, filter] => (table, law, reps, filter.as_str()),
        _ => panic!("--loop <table> <uniform|normal> <reps> [shape filter]"),
    };
    let reps: usize = reps.parse().expect("a count of repetitions");
    let kernels = Int8Kernels::available().into_iter().find(|k| k.name == table).expect("a table this CPU runs");
    let mut rng = SmallRng::seed_from_u64(3);
    let mut macs = 0;
    for &(_, m, k, n) in SHAPES.iter().filter(|s| s.0.contains(filter)) {
        let w: Vec<f32> = (0..m * k)
            .map(|_| match law.as_str() {
                "narrow" => rng.gen_range(-1.0..1.0),
                "uniform" => rng.gen_range(-1.0..1.0),
                _ => {
                    let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
                    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
                }
            })
            .collect();
        let mut qw = QuantizedWeights::quantize(&w, m).unwrap();
        if law == "narrow" {
            // Within ±64: no pair to split (the kernels' raw speed).
            qw.values.iter_mut().for_each(|v| *v /= 2);
        }
        let input = ActivationQParams::from_range(0.0, 1.0).unwrap();
        let stage = OutputStage::new(input, &qw, None, ActivationQParams::from_range(0.0, 8.0).unwrap(), true).unwrap();
        let x: Vec<u8> = (0..k * n).map(|_| rng.gen()).collect();
        let packed = kernels.pack_weights(&qw.values, m, k).unwrap();
        let mut pb = kernels.activations_for(&packed);
        let mut out = vec![0u8; m * n];
        for _ in 0..reps {
            pb.pack(&x, k, n).unwrap();
            kernels.gemm_u8(&packed, &pb, &stage, &mut out, Split::Sequential).unwrap();
        }
        macs += reps * m * n * k;
        eprintln!("{table} {law} {m}x{k}x{n}: {} weights", if packed.is_split() { "split" } else { "unsplit" });
    }
    println!("{macs} multiply-adds");
}

criterion_group!(benches, bench, bench_linear);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--loop") {
        return kernel_loop(&args[at + 1..]);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
