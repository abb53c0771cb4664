//! The pooling ops against their plain references (forward) and central finite differences (backward).

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::reference;
use super::*;

type Dynamic<T = NoneTape> = Images<usize, T>;

/// One pooling case: input `(batch, channels, height, width)` and a window.
#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    window: PoolWindow,
}

impl Case {
    const fn new(
        batch: usize,
        channels: usize,
        (height, width): (usize, usize),
        k: usize,
        s: usize,
        p: usize,
    ) -> Self {
        Self {
            batch,
            channels,
            height,
            width,
            window: PoolWindow {
                kernel: k,
                stride: s,
                padding: p,
            },
        }
    }
    fn len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }
    fn shape(&self) -> (usize, usize, usize, usize) {
        (self.batch, self.channels, self.height, self.width)
    }
}

/// Hand-picked cases: stride 1/2/3, padding 0/1/2, kernel 1/2/3/5, non-square, 1 and 3 channels,
/// batch 1 and 7, sizes that do not divide evenly, and the 2×2 fast path on odd sizes.
const CASES: &[Case] = &[
    Case::new(1, 1, (4, 4), 2, 2, 0),
    Case::new(7, 3, (9, 7), 2, 2, 0),
    Case::new(7, 3, (9, 7), 3, 2, 1),
    Case::new(1, 3, (5, 8), 3, 1, 1),
    Case::new(7, 1, (6, 5), 2, 2, 1),
    Case::new(2, 3, (11, 4), 3, 2, 0),
    Case::new(7, 3, (7, 9), 5, 2, 2),
    Case::new(1, 1, (3, 3), 1, 1, 0),
    Case::new(3, 2, (10, 10), 2, 1, 0),
    Case::new(1, 1, (5, 5), 3, 3, 1),
    Case::new(1, 3, (2, 3), 3, 1, 1),
];

/// Random cases drawn from the same ranges as the issue asks.
fn random_cases(rng: &mut SmallRng, count: usize) -> Vec<Case> {
    (0..count)
        .map(|_| {
            let kernel: usize = *[1, 2, 3, 5].choose(rng).unwrap();
            let padding = rng.gen_range(0..=kernel / 2);
            let stride = rng.gen_range(1..=3);
            let low = kernel.saturating_sub(2 * padding).max(1);
            Case {
                batch: *[1, 7].choose(rng).unwrap(),
                channels: *[1, 3].choose(rng).unwrap(),
                height: rng.gen_range(low..low + 9),
                width: rng.gen_range(low..low + 9),
                window: PoolWindow {
                    kernel,
                    stride,
                    padding,
                },
            }
        })
        .collect()
}

fn uniform(rng: &mut SmallRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Distinct values 0.1 apart in random order, so a max pool's winner never changes under a ±0.01 nudge.
fn distinct(rng: &mut SmallRng, len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len)
        .map(|i| i as f32 * 0.1 - len as f32 * 0.05)
        .collect();
    v.shuffle(rng);
    v
}

fn images(dev: &Cpu, values: Vec<f32>, shape: (usize, usize, usize, usize)) -> Dynamic {
    dev.tensor_from_vec(values, shape)
}

fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance * w.abs().max(1.0),
            "{what}: element {i} is {g}, expected {w}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Forward against the references
// ---------------------------------------------------------------------------------------------

#[test]
fn max_pool_forward_matches_reference() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(1);
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .chain(random_cases(&mut rng, 40))
        .collect();
    for case in cases {
        let values = uniform(&mut rng, case.len());
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
    let mut rng = SmallRng::seed_from_u64(2);
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .chain(random_cases(&mut rng, 40))
        .collect();
    for case in cases {
        let values = uniform(&mut rng, case.len());
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

/// Big enough for the kernels to split the planes across rayon tasks.
#[test]
fn parallel_split_matches_reference() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(5);
    for window in [
        PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
        PoolWindow {
            kernel: 3,
            stride: 2,
            padding: 1,
        },
    ] {
        let case = Case {
            batch: 7,
            channels: 3,
            height: 57,
            width: 58,
            window,
        };
        let values = uniform(&mut rng, case.len());
        let (want_max, _) = reference::max_pool2d(&values, (57, 58), window);
        let want_avg = reference::avg_pool2d(&values, (57, 58), window);
        let got_max = try_max_pool2d(
            images(&dev, values.clone(), case.shape()).leaky_trace(),
            window,
        )
        .unwrap();
        let got_avg = try_avg_pool2d(images(&dev, values, case.shape()), window).unwrap();
        assert_eq!(got_max.as_vec(), want_max);
        assert_close(&got_avg.as_vec(), &want_avg, 1e-6, "avg");
    }
}

// ---------------------------------------------------------------------------------------------
// Backward against central finite differences
// ---------------------------------------------------------------------------------------------

const EPS: f32 = 0.01;

/// Checks `op`'s gradient of `L = Σ y·r` (random weights `r`) against `(L(x+ε) − L(x−ε)) / 2ε`
/// for every input element.
fn check_gradient<O: Shape>(
    dev: &Cpu,
    values: Vec<f32>,
    shape: (usize, usize, usize, usize),
    rng: &mut SmallRng,
    op: impl Fn(Dynamic<OwnedTape<f32, Cpu>>) -> Tensor<O, f32, Cpu, OwnedTape<f32, Cpu>>,
    what: &str,
) {
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

#[test]
fn max_pool_backward_matches_finite_differences() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(10);
    for case in GRAD_CASES {
        let values = distinct(&mut rng, case.len());
        check_gradient(
            &dev,
            values,
            case.shape(),
            &mut rng,
            |x| try_max_pool2d(x, case.window).unwrap(),
            &format!("max {case:?}"),
        );
    }
}

#[test]
fn avg_pool_backward_matches_finite_differences() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(11);
    for case in GRAD_CASES {
        let values = uniform(&mut rng, case.len());
        check_gradient(
            &dev,
            values,
            case.shape(),
            &mut rng,
            |x| try_avg_pool2d(x, case.window).unwrap(),
            &format!("avg {case:?}"),
        );
    }
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
        let values = uniform(&mut rng, shape.0 * shape.1 * shape.2 * shape.3);
        check_gradient(
            &dev,
            values,
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
        let values = uniform(&mut rng, shape.0 * shape.1 * shape.2 * shape.3);
        check_gradient(
            &dev,
            values,
            shape,
            &mut rng,
            |x| try_global_avg_pool2d(x).unwrap(),
            &format!("global {shape:?}"),
        );
    }
}

/// The large, parallel 2×2 path's gradient equals the reference argmax routing.
#[test]
fn max_pool_backward_routes_to_reference_argmax_in_parallel() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(14);
    let shape = (7, 3, 56, 57);
    let window = PoolWindow {
        kernel: 2,
        stride: 2,
        padding: 0,
    };
    let values = uniform(&mut rng, shape.0 * shape.1 * shape.2 * shape.3);
    let (_, argmax) = reference::max_pool2d(&values, (56, 57), window);
    let x = images(&dev, values, shape);
    let y = try_max_pool2d(x.leaky_trace(), window).unwrap();
    let weights = uniform(&mut rng, y.shape().num_elements());
    let r: Dynamic = dev.tensor_from_vec(weights.clone(), *y.shape());
    let got = (y * r).sum().backward().get(&x).as_vec();
    let mut want = vec![0.0; got.len()];
    let (plane_in, plane_out) = (56 * 57, argmax.len() / (shape.0 * shape.1));
    for (o, (&at, &g)) in argmax.iter().zip(&weights).enumerate() {
        want[(o / plane_out) * plane_in + at] += g;
    }
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Semantics that the random checks would not pin down
// ---------------------------------------------------------------------------------------------

#[test]
fn max_pool_ties_send_gradient_to_first_maximum() {
    let dev = Cpu::default();
    let window = PoolWindow {
        kernel: 2,
        stride: 2,
        padding: 0,
    };
    for (size, window) in [
        (4, window),
        (
            5,
            PoolWindow {
                kernel: 3,
                stride: 2,
                padding: 1,
            },
        ),
    ] {
        let x = images(&dev, vec![1.0; size * size], (1, 1, size, size));
        let grad = try_max_pool2d(x.leaky_trace(), window)
            .unwrap()
            .sum()
            .backward()
            .get(&x)
            .as_vec();
        let (_, argmax) = reference::max_pool2d(&vec![1.0; size * size], (size, size), window);
        // Each window's first real pixel (row-major) gets the gradient, and nothing else does.
        for (i, &g) in grad.iter().enumerate() {
            let wins = argmax.iter().filter(|&&a| a == i).count() as f32;
            assert_eq!(g, wins, "pixel {i}");
        }
        assert_eq!(grad[0], 1.0);
    }
}

#[test]
fn max_pool_propagates_nan_like_pytorch() {
    let dev = Cpu::default();
    let values = vec![1.0, f32::NAN, 3.0, 2.0];
    // The 2×2 fast path and the general loop, each without and with a tape (argmax tracking).
    for window in [
        PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
        PoolWindow {
            kernel: 3,
            stride: 1,
            padding: 1,
        },
    ] {
        let plain = try_max_pool2d(images(&dev, values.clone(), (1, 1, 2, 2)), window).unwrap();
        let x = images(&dev, values.clone(), (1, 1, 2, 2));
        let taped = try_max_pool2d(x.leaky_trace(), window).unwrap();
        assert!(plain.as_vec().iter().all(|v| v.is_nan()), "{window:?}");
        assert!(taped.as_vec().iter().all(|v| v.is_nan()), "{window:?}");
        // Every window's gradient goes to the NaN, as PyTorch's argmax does.
        let grad = taped.sum().backward().get(&x).as_vec();
        let windows = grad.iter().sum::<f32>();
        assert_eq!(grad, [0.0, windows, 0.0, 0.0], "{window:?}");
    }
}

#[test]
fn gradients_accumulate_over_two_uses() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(20);
    let window = PoolWindow {
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let x = images(&dev, uniform(&mut rng, 2 * 3 * 6 * 6), (2, 3, 6, 6));
    let once = try_avg_pool2d(x.leaky_trace(), window)
        .unwrap()
        .sum()
        .backward()
        .get(&x)
        .as_vec();
    let a = try_avg_pool2d(x.leaky_trace(), window).unwrap().sum();
    let b = try_max_pool2d(x.leaky_trace(), window).unwrap().sum();
    let c = try_global_avg_pool2d(x.leaky_trace()).unwrap().sum();
    let both = (a + b + c).backward().get(&x).as_vec();
    let max_only = try_max_pool2d(x.leaky_trace(), window)
        .unwrap()
        .sum()
        .backward()
        .get(&x)
        .as_vec();
    for i in 0..once.len() {
        let want = once[i] + max_only[i] + 1.0 / 36.0;
        assert!(
            (both[i] - want).abs() < 1e-6,
            "element {i}: {} vs {want}",
            both[i]
        );
    }
}

#[test]
fn non_contiguous_input_gives_the_same_values_and_gradients() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(21);
    let window = PoolWindow {
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    // Stored as (b, c, w, h) and viewed as (b, c, h, w) through a permutation.
    let stored: Dynamic = images(&dev, distinct(&mut rng, 2 * 3 * 5 * 7), (2, 3, 5, 7));
    let contiguous: Dynamic = images(
        &dev,
        stored.clone().permute::<_, Axes4<0, 1, 3, 2>>().as_vec(),
        (2, 3, 7, 5),
    );
    let y_view = try_max_pool2d(
        stored.leaky_trace().permute::<_, Axes4<0, 1, 3, 2>>(),
        window,
    )
    .unwrap();
    let y_copy = try_max_pool2d(contiguous.leaky_trace(), window).unwrap();
    assert_eq!(y_view.as_vec(), y_copy.as_vec());
    let g_view = y_view
        .sum()
        .backward()
        .get(&stored)
        .permute::<_, Axes4<0, 1, 3, 2>>()
        .as_vec();
    let g_copy = y_copy.sum().backward().get(&contiguous).as_vec();
    assert_eq!(g_view, g_copy);
}

#[test]
fn channel_dim_stays_typed() {
    let dev = Cpu::default();
    let x: Images<Const<3>, NoneTape> = dev.zeros_like(&(2, Const::<3>, 8, 8));
    let y: Images<Const<3>, NoneTape> = try_max_pool2d(
        x.clone(),
        PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
    )
    .unwrap();
    assert_eq!(*y.shape(), (2, Const::<3>, 4, 4));
    let g: Tensor<(usize, Const<3>), f32, Cpu> = try_global_avg_pool2d(x).unwrap();
    assert_eq!(g.shape().0, 2);
}

// ---------------------------------------------------------------------------------------------
// Adaptive pooling against PyTorch's bin rule, literal values
// ---------------------------------------------------------------------------------------------

/// 4×4 → 7×7 on x[h][w] = 4h + w (the values 0..16).
///
/// Bins for 4 inputs into 7 outputs, start = floor(4i/7), end = ceil(4(i+1)/7):
/// i=0: [0,1)  i=1: [0,2)  i=2: [1,2)  i=3: [1,3)  i=4: [2,3)  i=5: [2,4)  i=6: [3,4),
/// whose mean indices are m = 0, 0.5, 1, 1.5, 2, 2.5, 3. The input is linear in (h, w), so the mean
/// over a bin rectangle is 4·m_i + m_j: row i starts at 4·m_i and climbs by 0.5.
#[test]
fn adaptive_4x4_to_7x7_follows_pytorch_bins() {
    let dev = Cpu::default();
    let x = images(&dev, (0..16).map(|v| v as f32).collect(), (1, 1, 4, 4));
    let y = try_adaptive_avg_pool2d(x, 7, 7).unwrap();
    #[rustfmt::skip]
    let expected = [
         0.0,  0.5,  1.0,  1.5,  2.0,  2.5,  3.0,
         2.0,  2.5,  3.0,  3.5,  4.0,  4.5,  5.0,
         4.0,  4.5,  5.0,  5.5,  6.0,  6.5,  7.0,
         6.0,  6.5,  7.0,  7.5,  8.0,  8.5,  9.0,
         8.0,  8.5,  9.0,  9.5, 10.0, 10.5, 11.0,
        10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0,
        12.0, 12.5, 13.0, 13.5, 14.0, 14.5, 15.0,
    ];
    assert_eq!(y.as_vec(), expected);
}

/// 7×7 → 3×3 on x[h][w] = 7h + w (the values 0..49).
///
/// Bins for 7 inputs into 3 outputs, start = floor(7i/3), end = ceil(7(i+1)/3):
/// i=0: [0,3)  i=1: [2,5)  i=2: [4,7) (neighbouring bins share a pixel), with mean indices 1, 3, 5.
/// Output (i, j) = 7·m_i + m_j: 7+1, 7+3, 7+5 / 21+1, 21+3, 21+5 / 35+1, 35+3, 35+5.
#[test]
fn adaptive_7x7_to_3x3_follows_pytorch_bins() {
    let dev = Cpu::default();
    let x = images(&dev, (0..49).map(|v| v as f32).collect(), (1, 1, 7, 7));
    let y = try_adaptive_avg_pool2d(x, 3, 3).unwrap();
    assert_eq!(
        y.as_vec(),
        [8.0, 10.0, 12.0, 22.0, 24.0, 26.0, 36.0, 38.0, 40.0]
    );
}

#[test]
fn adaptive_bins_cover_every_input() {
    for (input, output) in [(4, 7), (7, 3), (10, 4), (1, 5), (13, 13)] {
        let mut covered = vec![false; input];
        for i in 0..output {
            let bin = adaptive_bin(i, input, output);
            assert!(
                !bin.is_empty() && bin.end <= input,
                "{input}->{output} bin {i} = {bin:?}"
            );
            covered[bin].iter_mut().for_each(|c| *c = true);
        }
        assert!(covered.iter().all(|&c| c), "{input}->{output}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input gives errors
// ---------------------------------------------------------------------------------------------

#[test]
fn window_larger_than_padded_input_names_both_sizes() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 2 * 3], (1, 1, 2, 3));
    let err = try_max_pool2d(
        x,
        PoolWindow {
            kernel: 5,
            stride: 1,
            padding: 1,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            NnError::PoolWindowTooLarge {
                kernel: 5,
                padded_height: 4,
                padded_width: 5,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("5x5 window") && message.contains("4x5") && message.contains("2x3"),
        "{message}"
    );
}

#[test]
fn padding_over_half_the_kernel_is_refused() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 16], (1, 1, 4, 4));
    let err = try_avg_pool2d(
        x,
        PoolWindow {
            kernel: 3,
            stride: 1,
            padding: 2,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            NnError::PoolPaddingTooLarge {
                kernel: 3,
                padding: 2,
                max_padding: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn zero_parameters_and_empty_images_are_refused() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 16], (1, 1, 4, 4));
    let zero_stride = try_max_pool2d(
        x.clone(),
        PoolWindow {
            kernel: 2,
            stride: 0,
            padding: 0,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            zero_stride,
            NnError::PoolZeroParameter { what: "stride", .. }
        ),
        "{zero_stride:?}"
    );
    let zero_kernel = try_avg_pool2d(
        x.clone(),
        PoolWindow {
            kernel: 0,
            stride: 1,
            padding: 0,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            zero_kernel,
            NnError::PoolZeroParameter {
                what: "kernel size",
                ..
            }
        ),
        "{zero_kernel:?}"
    );
    let zero_out = try_adaptive_avg_pool2d(x, 0, 3).unwrap_err();
    assert!(
        matches!(
            zero_out,
            NnError::PoolZeroParameter {
                what: "output height",
                ..
            }
        ),
        "{zero_out:?}"
    );
    let empty = images(&dev, vec![], (2, 3, 0, 4));
    let err = try_global_avg_pool2d(empty).unwrap_err();
    assert!(
        matches!(
            err,
            NnError::PoolEmptyImage {
                height: 0,
                width: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn empty_batch_gives_empty_output() {
    let dev = Cpu::default();
    let x = images(&dev, vec![], (0, 3, 8, 8));
    let y = try_max_pool2d(
        x.leaky_trace(),
        PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
    )
    .unwrap();
    assert_eq!(*y.shape(), (0, 3, 4, 4));
}
