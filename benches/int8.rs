//! int8 GEMM throughput against the fp32 GEMM of the same shape (the `gemm` crate), in one run.
//!
//! Shapes are the convolutions of SmallVgg (1x28x28) and VGG16-BN (3x128x128) at batch 1, as
//! `M = out channels`, `K = 9·in channels`, `N = OH·OW`. Throughput is reported in elements/s
//! where one element is one operation (a multiply-add counts 2), i.e. GOPS for int8, GFLOP/s for fp32.
//! The int8 time includes packing the activations (done on every call); the weights are packed once.
//!
//! `cargo bench --bench int8` (all threads of the machine), or with `-- 'int8/'` etc. to filter.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fasterai_runtime::kernels::int8::{Int8Kernels, Split};
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
    let kernels = Int8Kernels::best();
    eprintln!("int8 kernels: {}; {threads} threads", kernels.name);
    let mut rng = SmallRng::seed_from_u64(1);
    for &(name, m, k, n) in SHAPES {
        let mut group = c.benchmark_group(name);
        group
            .throughput(Throughput::Elements((2 * m * n * k) as u64))
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));

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
        let packed = kernels.pack_weights(&qw.values, m, k).unwrap();
        let bq = input.quantize_slice(&bf);
        let mut pb = kernels.activations();
        let mut out = vec![0u8; m * n];
        let splits: &[(Split, &str)] = if threads > 1 {
            &[(Split::Sequential, "1t"), (Split::Rows, "rows"), (Split::Columns, "cols"), (Split::Auto, "auto")]
        } else {
            &[(Split::Sequential, "1t")]
        };
        for &(split, label) in splits {
            group.bench_function(BenchmarkId::new(format!("i8_{}", kernels.name), label), |bch| {
                bch.iter(|| {
                    pb.pack(&bq, k, n).unwrap();
                    kernels.gemm_u8(&packed, &pb, &stage, &mut out, split).unwrap();
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
