//! Forward passes against the plain references.

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::kernels::generic::pool_f32 as reference;

use super::*;

/// [`hand_picked_and_random`] cases (40 random ones) drawn from `seed`, each with uniform values.
fn hand_picked_and_random_inputs(seed: u64) -> Vec<(Case, Vec<f32>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let cases = hand_picked_and_random(&mut rng, 40);
    cases
        .into_iter()
        .map(|case| (case, uniform(&mut rng, case.len())))
        .collect()
}

#[test]
fn max_pool_forward_matches_reference() {
    let dev = Cpu::default();
    for (case, values) in hand_picked_and_random_inputs(1) {
        let (want, _) = reference::max_pool2d(&values, (case.height, case.width), case.window);
        let got = try_max_pool2d(images(&dev, values, case.shape()), case.window).unwrap();
        let (_, _, oh, ow) = *got.shape();
        assert_eq!(
            (oh, ow),
            (
                case.window.output_len(case.height).unwrap(),
                case.window.output_len(case.width).unwrap()
            )
        );
        // A maximum is one of the inputs: equality is exact.
        assert_eq!(got.as_vec(), want, "{case:?}");
    }
}

#[test]
fn avg_pool_forward_matches_reference() {
    let dev = Cpu::default();
    for (case, values) in hand_picked_and_random_inputs(2) {
        let want = reference::avg_pool2d(&values, (case.height, case.width), case.window);
        let got = try_avg_pool2d(images(&dev, values, case.shape()), case.window).unwrap();
        assert_close(&got.as_vec(), &want, 1e-6, &format!("{case:?}"));
    }
}

#[test]
fn adaptive_avg_pool_forward_matches_reference() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(3);
    let shapes = [
        ((1, 1, 4, 4), (7, 7)),
        ((7, 3, 7, 7), (3, 3)),
        ((7, 3, 9, 5), (4, 6)),
        ((1, 3, 5, 8), (5, 8)),
        ((2, 1, 6, 3), (1, 1)),
    ];
    for (shape, (oh, ow)) in shapes {
        let values = uniform(&mut rng, shape.0 * shape.1 * shape.2 * shape.3);
        let want = reference::adaptive_avg_pool2d(&values, (shape.2, shape.3), (oh, ow));
        let got = try_adaptive_avg_pool2d(images(&dev, values, shape), oh, ow).unwrap();
        assert_eq!(*got.shape(), (shape.0, shape.1, oh, ow));
        assert_close(
            &got.as_vec(),
            &want,
            1e-6,
            &format!("{shape:?} -> {oh}x{ow}"),
        );
    }
}

#[test]
fn global_avg_pool_forward_matches_reference() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(4);
    for shape in [(1, 1, 1, 1), (7, 3, 5, 8), (1, 3, 28, 28), (7, 1, 3, 2)] {
        let values = uniform(&mut rng, shape.0 * shape.1 * shape.2 * shape.3);
        let want = reference::global_avg_pool2d(&values, shape.2 * shape.3);
        let got = try_global_avg_pool2d(images(&dev, values, shape)).unwrap();
        assert_eq!(*got.shape(), (shape.0, shape.1));
        assert_close(&got.as_vec(), &want, 1e-6, &format!("{shape:?}"));
    }
}
