//! Max-pool forward and backward throughput at SmallVgg's two pooling layers, beside the GEMM of the
//! convolution that precedes each of them, measured in the same run so their ratio means something.
//!
//! `cargo bench --bench pooling`
//!
//! Throughput is reported in bytes of the minimal memory traffic each pass needs:
//! - forward: read the input once, write the output once: `4 · (in + out)` bytes;
//! - backward: read the output gradient and the argmax indices, read-modify-write the input
//!   gradient: `4 · (2·out + 2·in)` bytes.
//!
//! `forward_slices` is the same kernel on raw buffers (`ops::pool2d::slices`), as the inference plans
//! call it: the tensor op's extra cost over it is the copy out of dfdx's storage.
//!
//! The backward timing covers what training pays after the forward pass: `sum().backward()`, i.e.
//! dfdx seeding the output gradient, allocating the zeroed input gradient, and the pooling backward.
//! The conv reference is the `(batch·H·W × 9·C) · (9·C × C)` GEMM at the heart of a 3×3 convolution
//! (the `gemm` crate on both cores, im2col not included), a lower bound on that layer's forward time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fasterai::dfdx::prelude::*;
use fasterai::nn::MaxPool2D;
use fasterai::internals::ops::pool2d::{slices, PoolWindow};

type Images = Tensor<(usize, usize, usize, usize), f32, Cpu>;

/// SmallVgg's pooling layers: after conv2 (32 channels, 28×28) and after conv4 (64 channels, 14×14).
const SHAPES: [(usize, usize, usize, usize); 2] = [(64, 32, 28, 28), (64, 64, 14, 14)];

fn input(dev: &Cpu, (b, c, h, w): (usize, usize, usize, usize)) -> Images {
    // Distinct-ish values so the argmax is data dependent, as after a ReLU'd conv.
    let values = (0..b * c * h * w)
        .map(|i| ((i * 7919) % 1013) as f32)
        .collect();
    dev.tensor_from_vec(values, (b, c, h, w))
}

fn label((b, c, h, w): (usize, usize, usize, usize)) -> String {
    format!("{b}x{c}x{h}x{w}")
}

fn max_pool(crit: &mut Criterion) {
    let dev = Cpu::default();
    let pool = MaxPool2D::<2>;
    let mut group = crit.benchmark_group("max_pool_2x2");
    group.sample_size(30);
    for shape in SHAPES {
        let x = input(&dev, shape);
        let in_len = shape.0 * shape.1 * shape.2 * shape.3;
        let out_len = in_len / 4;

        group.throughput(Throughput::Bytes((4 * (in_len + out_len)) as u64));
        group.bench_with_input(BenchmarkId::new("forward", label(shape)), &x, |bench, x| {
            bench.iter(|| pool.try_forward(x.clone()).unwrap())
        });

        // The same kernel on raw buffers, as the inference plans call it: no copy out of dfdx.
        let raw = x.as_vec();
        let mut raw_out = vec![0.0f32; out_len];
        let window = PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        let (planes, hw) = (shape.0 * shape.1, (shape.2, shape.3));
        group.bench_function(BenchmarkId::new("forward_slices", label(shape)), |bench| {
            bench.iter(|| slices::max_pool2d(&raw, planes, hw, window, &mut raw_out).unwrap())
        });

        group.throughput(Throughput::Bytes((4 * (2 * out_len + 2 * in_len)) as u64));
        group.bench_with_input(
            BenchmarkId::new("backward", label(shape)),
            &x,
            |bench, x| {
                bench.iter_batched(
                    || pool.try_forward(x.leaky_trace()).unwrap(),
                    |y| y.sum().backward(),
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

/// `dst (m×n) = lhs (m×k) · rhs (k×n)`, all row-major, on the `gemm` crate with every rayon thread.
fn gemm_f32(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32], dst: &mut [f32]) {
    assert!(lhs.len() == m * k && rhs.len() == k * n && dst.len() == m * n);
    // SAFETY: the three buffers hold exactly m·k, k·n and m·n values (checked above), the strides
    // describe those row-major layouts, and `dst` is borrowed mutably so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    }
}

/// The GEMM of the 3×3, C → C convolution before each pool (same padding, so H×W is unchanged):
/// `(batch·H·W × 9C) · (9C × C)`, reported in FLOP/s (2 per multiply-add).
fn conv_gemm_reference(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("conv3x3_gemm_reference");
    group.sample_size(10);
    for (b, c, h, w) in SHAPES {
        let (rows, depth) = (b * h * w, 9 * c);
        let patches: Vec<f32> = (0..rows * depth)
            .map(|i| ((i % 97) as f32) * 0.01)
            .collect();
        let weights: Vec<f32> = (0..depth * c).map(|i| ((i % 89) as f32) * 0.01).collect();
        let mut out = vec![0.0f32; rows * c];
        group.throughput(Throughput::Elements((2 * rows * depth * c) as u64));
        group.bench_function(
            BenchmarkId::new("forward_flops", label((b, c, h, w))),
            |bench| bench.iter(|| gemm_f32(rows, c, depth, &patches, &weights, &mut out)),
        );
    }
    group.finish();
}

criterion_group!(benches, max_pool, conv_gemm_reference);
criterion_main!(benches);
