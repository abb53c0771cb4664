//! Backward passes against central finite differences.

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;

const EPS: f32 = 0.01;

/// Checks `op`'s gradient of `L = Σ y·r` (random weights `r`) against `(L(x+ε) − L(x−ε)) / 2ε`
/// for every input element, on an input of `shape` whose values `draw` gives.
fn check_gradient<O: Shape>(
    dev: &Cpu,
    draw: fn(&mut SmallRng, usize) -> Vec<f32>,
    shape: (usize, usize, usize, usize),
    rng: &mut SmallRng,
    op: impl Fn(Dynamic<OwnedTape<f32, Cpu>>) -> Tensor<O, f32, Cpu, OwnedTape<f32, Cpu>>,
    what: &str,
) {
    let values = draw(rng, shape.0 * shape.1 * shape.2 * shape.3);
    let x = images(dev, values.clone(), shape);
    let y = op(x.leaky_trace());
    let weights = uniform(rng, y.shape().num_elements());
    let r: Tensor<O, f32, Cpu> = dev.tensor_from_vec(weights.clone(), *y.shape());
    let grads = (y * r).sum().backward();
    let analytic = grads.get(&x).as_vec();

    let loss = |v: Vec<f32>| -> f64 {
        let y = op(images(dev, v, shape).leaky_trace()).as_vec();
        y.iter()
            .zip(&weights)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    for i in 0..values.len() {
        let mut plus = values.clone();
        plus[i] += EPS;
        let mut minus = values.clone();
        minus[i] -= EPS;
        let numeric = (loss(plus) - loss(minus)) / (2.0 * EPS as f64);
        assert!(
            (analytic[i] as f64 - numeric).abs() < 2e-3,
            "{what}: d/dx[{i}] is {} by the tape but {numeric} by finite differences",
            analytic[i]
        );
    }
}

/// Small cases for the gradient checks (each input element costs two forward passes).
const GRAD_CASES: &[Case] = &[
    Case::new(1, 1, (4, 4), 2, 2, 0),
    Case::new(2, 3, (7, 5), 2, 2, 0),
    Case::new(1, 3, (7, 6), 3, 2, 1),
    Case::new(2, 1, (5, 8), 3, 1, 1),
    Case::new(1, 2, (9, 7), 5, 2, 2),
    Case::new(7, 1, (3, 4), 2, 1, 1),
];

/// Checks the windowed pool `op` on every case of [`GRAD_CASES`], its inputs drawn by `values`.
fn check_windowed(
    seed: u64,
    name: &str,
    values: fn(&mut SmallRng, usize) -> Vec<f32>,
    op: fn(Dynamic<OwnedTape<f32, Cpu>>, PoolWindow) -> Result<Dynamic<OwnedTape<f32, Cpu>>, NnError>,
) {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    for case in GRAD_CASES {
        check_gradient(
            &dev,
            values,
            case.shape(),
            &mut rng,
            |x| op(x, case.window).unwrap(),
            &format!("{name} {case:?}"),
        );
    }
}

#[test]
fn max_pool_backward_matches_finite_differences() {
    check_windowed(10, "max", distinct, try_max_pool2d);
}

#[test]
fn avg_pool_backward_matches_finite_differences() {
    check_windowed(11, "avg", uniform, try_avg_pool2d);
}

#[test]
fn adaptive_avg_pool_backward_matches_finite_differences() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(12);
    for (shape, (oh, ow)) in [
        ((1, 1, 4, 4), (7, 7)),
        ((2, 3, 7, 7), (3, 3)),
        ((1, 2, 5, 6), (4, 2)),
    ] {
        check_gradient(
            &dev,
            uniform,
            shape,
            &mut rng,
            |x| try_adaptive_avg_pool2d(x, oh, ow).unwrap(),
            &format!("adaptive {shape:?}"),
        );
    }
}

#[test]
fn global_avg_pool_backward_matches_finite_differences() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(13);
    for shape in [(1, 1, 1, 1), (2, 3, 4, 5), (7, 1, 3, 3)] {
        check_gradient(
            &dev,
            uniform,
            shape,
            &mut rng,
            |x| try_global_avg_pool2d(x).unwrap(),
            &format!("global {shape:?}"),
        );
    }
}
