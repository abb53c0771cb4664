//! The fused batch norm against the plain reference and against finite differences.

use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{batchnorm2d, reference, BnParams, Mode, Nchw};

const C: usize = 3;

struct Setup {
    dev: Cpu,
    x: Vec<f32>,
    dims: [usize; 4],
    gamma: Tensor<Rank1<C>, f32, Cpu>,
    beta: Tensor<Rank1<C>, f32, Cpu>,
    rm: Tensor<Rank1<C>, f32, Cpu>,
    rv: Tensor<Rank1<C>, f32, Cpu>,
}

fn setup(n: usize, h: usize, w: usize, seed: u64) -> Setup {
    let dev = Cpu::seed_from_u64(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let x = (0..n * C * h * w).map(|_| rng.gen_range(-2.0..3.0)).collect();
    let mut vec = |lo: f32, hi: f32| (0..C).map(|_| rng.gen_range(lo..hi)).collect::<Vec<f32>>();
    let (g, b, m, v) = (vec(0.5, 1.5), vec(-0.5, 0.5), vec(-1.0, 1.0), vec(0.5, 2.0));
    Setup {
        gamma: dev.tensor_from_vec(g, (Const::<C>,)),
        beta: dev.tensor_from_vec(b, (Const::<C>,)),
        rm: dev.tensor_from_vec(m, (Const::<C>,)),
        rv: dev.tensor_from_vec(v, (Const::<C>,)),
        x,
        dims: [n, C, h, w],
        dev,
    }
}

impl Setup {
    fn input(&self) -> Tensor<Nchw<C>, f32, Cpu> {
        let [n, _, h, w] = self.dims;
        self.dev.tensor_from_vec(self.x.clone(), (n, Const::<C>, h, w))
    }
    fn params(&mut self) -> BnParams<'_, C> {
        BnParams {
            weight: &self.gamma,
            bias: &self.beta,
            running_mean: &mut self.rm,
            running_var: &mut self.rv,
            epsilon: 1e-5,
            momentum: 0.1,
        }
    }
}

#[test]
fn train_forward_matches_reference_and_updates_running_stats() {
    for (n, h, w) in [(1, 5, 7), (7, 4, 4), (2, 1, 1), (4, 9, 3)] {
        let mut s = setup(n, h, w, (n * 100 + h * 10 + w) as u64);
        let (rm0, rv0) = (s.rm.as_vec(), s.rv.as_vec());
        let (want, mean, var) =
            reference::forward(&s.x, s.dims, &s.gamma.as_vec(), &s.beta.as_vec(), None, 1e-5);
        let x = s.input();
        let y = batchnorm2d(x, s.params(), Mode::Train).unwrap().as_vec();
        for (a, b) in y.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-4, "{a} vs {b}");
        }
        let count = (n * h * w) as f64;
        for ch in 0..C {
            let unbiased = if count > 1.0 { var[ch] * count / (count - 1.0) } else { var[ch] };
            let em = 0.9 * rm0[ch] as f64 + 0.1 * mean[ch];
            let ev = 0.9 * rv0[ch] as f64 + 0.1 * unbiased;
            assert!((s.rm.as_vec()[ch] as f64 - em).abs() < 1e-5);
            assert!((s.rv.as_vec()[ch] as f64 - ev).abs() < 1e-5);
        }
    }
}

#[test]
fn eval_forward_uses_running_stats_and_leaves_them() {
    let mut s = setup(3, 4, 5, 7);
    let (rm, rv) = (s.rm.as_vec(), s.rv.as_vec());
    let (want, _, _) =
        reference::forward(&s.x, s.dims, &s.gamma.as_vec(), &s.beta.as_vec(), Some((&rm, &rv)), 1e-5);
    let x = s.input();
    let y = batchnorm2d(x, s.params(), Mode::Eval).unwrap().as_vec();
    for (a, b) in y.iter().zip(&want) {
        assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert_eq!((s.rm.as_vec(), s.rv.as_vec()), (rm, rv));
}

/// Loss `sum(y * r)` for a fixed random `r`, so every output gradient differs.
fn loss_and_grads(s: &mut Setup, mode: Mode, r: &[f32]) -> (f64, Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, _, h, w] = s.dims;
    let x = s.input();
    let rr = s.dev.tensor_from_vec(r.to_vec(), (n, Const::<C>, h, w));
    let (g0, b0) = (s.gamma.clone(), s.beta.clone());
    let y = batchnorm2d(x.leaky_trace(), s.params(), mode).unwrap();
    let loss = (y * rr).sum();
    let value = loss.array() as f64;
    let grads = loss.backward();
    (value, grads.get(&x).as_vec(), grads.get(&g0).as_vec(), grads.get(&b0).as_vec())
}

#[test]
fn backward_matches_central_differences() {
    for mode in [Mode::Train, Mode::Eval] {
        let mut s = setup(3, 3, 2, 11);
        let mut rng = StdRng::seed_from_u64(5);
        let r: Vec<f32> = (0..s.x.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (_, dx, dg, db) = loss_and_grads(&mut s, mode, &r);
        let eps = 1e-2f32;
        // Running stats change in training; restore them before each probe so probes agree.
        let (rm, rv) = (s.rm.as_vec(), s.rv.as_vec());
        let probe = |s: &mut Setup, edit: &dyn Fn(&mut Setup, f32)| {
            let mut f = |delta: f32| {
                edit(s, delta);
                s.rm.copy_from(&rm);
                s.rv.copy_from(&rv);
                let v = loss_and_grads(s, mode, &r).0;
                edit(s, -delta);
                v
            };
            ((f(eps) - f(-eps)) / (2.0 * eps as f64)) as f32
        };
        for i in [0, 5, 17, s.x.len() - 1] {
            let num = probe(&mut s, &|s, d| s.x[i] += d);
            assert!((num - dx[i]).abs() < 2e-2, "{mode:?} dx[{i}]: {num} vs {}", dx[i]);
        }
        for ch in 0..C {
            let edit_g = move |s: &mut Setup, d: f32| {
                let mut g = s.gamma.as_vec();
                g[ch] += d;
                s.gamma.copy_from(&g);
            };
            let num = probe(&mut s, &edit_g);
            assert!((num - dg[ch]).abs() < 2e-2, "{mode:?} dgamma[{ch}]: {num} vs {}", dg[ch]);
            let edit_b = move |s: &mut Setup, d: f32| {
                let mut b = s.beta.as_vec();
                b[ch] += d;
                s.beta.copy_from(&b);
            };
            let num = probe(&mut s, &edit_b);
            assert!((num - db[ch]).abs() < 2e-2, "{mode:?} dbeta[{ch}]: {num} vs {}", db[ch]);
        }
    }
}

/// The backward adds into the input gradient it is given (dfdx accumulates a tensor's gradient
/// over every use of the tensor): starting from ones gives one plus the gradient from zeros.
#[test]
fn backward_accumulates_into_the_input_gradient() {
    use super::cpu_kernel::{backward, Dims};
    let s = setup(2, 3, 2, 12);
    let d = Dims { n: 2, c: C, hw: 6 };
    let dy: Vec<f32> = (0..s.x.len()).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
    let (mean, invstd) = (vec![0.1, -0.2, 0.3], vec![1.5, 0.8, 1.1]);
    let gamma = s.gamma.as_vec();
    for mode in [Mode::Train, Mode::Eval] {
        let mut fresh = vec![0.0; s.x.len()];
        let (dg, db) = backward(&s.x, &dy, &mean, &invstd, &gamma, mode, d, &mut fresh);
        let mut added = vec![1.0; s.x.len()];
        let (dg2, db2) = backward(&s.x, &dy, &mean, &invstd, &gamma, mode, d, &mut added);
        assert_eq!((dg, db), (dg2, db2));
        assert!(fresh.iter().any(|&v| v != 0.0));
        for (a, f) in added.iter().zip(&fresh) {
            assert_eq!(*a, 1.0 + f, "{mode:?}");
        }
    }
}
