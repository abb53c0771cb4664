//! The rayon split (runs of whole planes on two threads) gives exactly what one thread gives, and
//! what the references give. The shapes are large enough to pass the split threshold.

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::kernels::generic::pool_f32 as reference;
use super::*;

/// 7 × 3 planes of 57 × 58: about 69 k input values, above the two-task threshold.
const SHAPE: (usize, usize, usize, usize) = (7, 3, 57, 58);

/// Forward values and input gradient (of `Σ y·r`, fixed `r`) of every op, on `threads` threads.
fn run_all(threads: usize, values: &[f32], weights_seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    on_threads(threads, || {
        let dev = Cpu::default();
        let x = images(&dev, values.to_vec(), SHAPE);
        let mut rng = SmallRng::seed_from_u64(weights_seed);
        let mut results = Vec::new();
        let mut record = |y: Dynamic<OwnedTape<f32, Cpu>>| {
            let r: Dynamic =
                dev.tensor_from_vec(uniform(&mut rng, y.shape().num_elements()), *y.shape());
            let forward = y.as_vec();
            let grad = (y * r).sum().backward().get(&x).as_vec();
            results.push((forward, grad));
        };
        for w in [window(2, 2, 0), window(3, 2, 1), window(3, 1, 1)] {
            record(try_max_pool2d(x.leaky_trace(), w).unwrap());
            record(try_avg_pool2d(x.leaky_trace(), w).unwrap());
        }
        record(try_adaptive_avg_pool2d(x.leaky_trace(), 7, 7).unwrap());
        let pooled = try_global_avg_pool2d(x.leaky_trace()).unwrap();
        let r: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(
            uniform(&mut rng, pooled.shape().num_elements()),
            *pooled.shape(),
        );
        let forward = pooled.as_vec();
        results.push((forward, (pooled * r).sum().backward().get(&x).as_vec()));
        results
    })
}

#[test]
fn two_threads_give_exactly_what_one_thread_gives() {
    let mut rng = SmallRng::seed_from_u64(40);
    let values = uniform(&mut rng, SHAPE.0 * SHAPE.1 * SHAPE.2 * SHAPE.3);
    let one = run_all(1, &values, 41);
    let two = run_all(2, &values, 41);
    assert_eq!(one.len(), two.len());
    for (i, (a, b)) in one.iter().zip(&two).enumerate() {
        assert_eq!(a.0, b.0, "op {i}: forward differs between 1 and 2 threads");
        assert_eq!(a.1, b.1, "op {i}: gradient differs between 1 and 2 threads");
    }
}

#[test]
fn split_forward_matches_reference() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(5);
    let (h, w) = (SHAPE.2, SHAPE.3);
    for pool_window in [window(2, 2, 0), window(3, 2, 1)] {
        let values = uniform(&mut rng, SHAPE.0 * SHAPE.1 * h * w);
        let (want_max, _) = reference::max_pool2d(&values, (h, w), pool_window);
        let want_avg = reference::avg_pool2d(&values, (h, w), pool_window);
        let (got_max, got_avg) = on_threads(2, || {
            let x = images(&dev, values.clone(), SHAPE);
            let max = try_max_pool2d(x.leaky_trace(), pool_window)
                .unwrap()
                .as_vec();
            let avg = try_avg_pool2d(x, pool_window).unwrap().as_vec();
            (max, avg)
        });
        assert_eq!(got_max, want_max);
        assert_close(&got_avg, &want_avg, 1e-6, "avg");
    }
}

/// The split 2×2 backward sends each output's gradient to the reference argmax.
#[test]
fn split_max_pool_backward_routes_to_reference_argmax() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(14);
    let pool_window = window(2, 2, 0);
    let (h, w) = (SHAPE.2, SHAPE.3);
    let values = uniform(&mut rng, SHAPE.0 * SHAPE.1 * h * w);
    let (_, argmax) = reference::max_pool2d(&values, (h, w), pool_window);
    let weights = uniform(&mut rng, argmax.len());
    let got = on_threads(2, || {
        let x = images(&dev, values.clone(), SHAPE);
        let y = try_max_pool2d(x.leaky_trace(), pool_window).unwrap();
        let r: Dynamic = dev.tensor_from_vec(weights.clone(), *y.shape());
        (y * r).sum().backward().get(&x).as_vec()
    });
    let mut want = vec![0.0; got.len()];
    let plane_out = argmax.len() / (SHAPE.0 * SHAPE.1);
    for (o, (&at, &g)) in argmax.iter().zip(&weights).enumerate() {
        want[(o / plane_out) * h * w + at] += g;
    }
    assert_eq!(got, want);
}
