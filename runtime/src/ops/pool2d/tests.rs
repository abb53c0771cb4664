//! The pooling ops against their plain references (forward) and central finite differences
//! (backward), PyTorch's semantics on literal cases, and their errors. Shared helpers live here.

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::*;

mod adaptive;
mod backward;
mod errors;
mod forward;
mod parallel;
mod semantics;

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
            window: window(k, s, p),
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

/// [`CASES`], then `count` [`random_cases`].
fn hand_picked_and_random(rng: &mut SmallRng, count: usize) -> Vec<Case> {
    CASES.iter().copied().chain(random_cases(rng, count)).collect()
}

/// `PoolWindow { kernel, stride, padding }`, short.
const fn window(kernel: usize, stride: usize, padding: usize) -> PoolWindow {
    PoolWindow {
        kernel,
        stride,
        padding,
    }
}

/// Runs `work` on a private rayon pool of `threads` threads, so the split path is exercised (or
/// not) whatever the machine or `RAYON_NUM_THREADS` says.
fn on_threads<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(work)
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
