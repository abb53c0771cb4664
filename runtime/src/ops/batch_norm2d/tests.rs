//! The batch-norm op against the plain `f64` reference (values, running statistics), against
//! central finite differences (gradients, both modes), and its ReLU against the composition.

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::{batch_norm2d_eval, batch_norm2d_train, cpu_kernel, reference, Activation, BnParams};

/// One layer's parameters, owned, with a random input.
struct Setup<const C: usize> {
    dev: Cpu,
    x: Vec<f32>,
    dims: [usize; 4],
    weight: Tensor<Rank1<C>, f32, Cpu>,
    bias: Tensor<Rank1<C>, f32, Cpu>,
    mean: Tensor<Rank1<C>, f32, Cpu>,
    var: Tensor<Rank1<C>, f32, Cpu>,
}

fn setup<const C: usize>(n: usize, h: usize, w: usize, seed: u64) -> Setup<C> {
    let dev = Cpu::seed_from_u64(seed);
    let mut rng = SmallRng::seed_from_u64(seed);
    let x = (0..n * C * h * w).map(|_| rng.gen_range(-2.0..3.0)).collect();
    let mut per_channel = |lo: f32, hi: f32| (0..C).map(|_| rng.gen_range(lo..hi)).collect::<Vec<f32>>();
    let (g, b, m, v) = (per_channel(0.5, 1.5), per_channel(-0.5, 0.5), per_channel(-1.0, 1.0), per_channel(0.5, 2.0));
    Setup {
        weight: dev.tensor_from_vec(g, (Const::<C>,)),
        bias: dev.tensor_from_vec(b, (Const::<C>,)),
        mean: dev.tensor_from_vec(m, (Const::<C>,)),
        var: dev.tensor_from_vec(v, (Const::<C>,)),
        x,
        dims: [n, C, h, w],
        dev,
    }
}

impl<const C: usize> Setup<C> {
    fn input(&self) -> Tensor<(usize, Const<C>, usize, usize), f32, Cpu> {
        let [n, _, h, w] = self.dims;
        self.dev.tensor_from_vec(self.x.clone(), (n, Const::<C>, h, w))
    }
    fn params(&mut self) -> BnParams<'_, C> {
        BnParams {
            weight: &self.weight,
            bias: &self.bias,
            running_mean: &mut self.mean,
            running_var: &mut self.var,
            epsilon: 1e-5,
            momentum: 0.1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Train,
    Eval,
}

fn run<const C: usize, T: Tape<f32, Cpu>>(
    s: &mut Setup<C>,
    x: Tensor<(usize, Const<C>, usize, usize), f32, Cpu, T>,
    mode: Mode,
    activation: Activation,
) -> Tensor<(usize, Const<C>, usize, usize), f32, Cpu, T> {
    match mode {
        Mode::Train => batch_norm2d_train(x, s.params(), activation).unwrap(),
        Mode::Eval => batch_norm2d_eval(x, s.params(), activation).unwrap(),
    }
}

#[test]
fn train_forward_matches_reference_and_updates_running_stats() {
    for (n, h, w) in [(1, 5, 7), (7, 4, 4), (2, 1, 1), (4, 9, 3), (1, 1, 1)] {
        let mut s = setup::<3>(n, h, w, (n * 100 + h * 10 + w) as u64);
        let (rm0, rv0) = (s.mean.as_vec(), s.var.as_vec());
        let (want, mean, var) = reference::forward(&s.x, s.dims, &s.weight.as_vec(), &s.bias.as_vec(), None, 1e-5);
        let x = s.input();
        let y = run(&mut s, x, Mode::Train, Activation::Identity).as_vec();
        for (a, b) in y.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-4, "{n}x{h}x{w}: {a} vs {b}");
        }
        let count = (n * h * w) as f64;
        for ch in 0..3 {
            let unbiased = if count > 1.0 { var[ch] * count / (count - 1.0) } else { var[ch] };
            let em = 0.9 * rm0[ch] as f64 + 0.1 * mean[ch];
            let ev = 0.9 * rv0[ch] as f64 + 0.1 * unbiased;
            assert!((s.mean.as_vec()[ch] as f64 - em).abs() < 1e-5);
            assert!((s.var.as_vec()[ch] as f64 - ev).abs() < 1e-5);
        }
    }
}

#[test]
fn eval_forward_uses_running_stats_and_leaves_them() {
    let mut s = setup::<3>(3, 4, 5, 7);
    let (rm, rv) = (s.mean.as_vec(), s.var.as_vec());
    let (want, _, _) = reference::forward(&s.x, s.dims, &s.weight.as_vec(), &s.bias.as_vec(), Some((&rm, &rv)), 1e-5);
    let x = s.input();
    let y = run(&mut s, x, Mode::Eval, Activation::Identity).as_vec();
    for (a, b) in y.iter().zip(&want) {
        assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert_eq!((s.mean.as_vec(), s.var.as_vec()), (rm, rv));
}

#[test]
fn the_fused_relu_is_the_relu_of_the_plain_output() {
    for mode in [Mode::Train, Mode::Eval] {
        let mut plain = setup::<4>(3, 5, 2, 21);
        let mut fused = setup::<4>(3, 5, 2, 21);
        let x = plain.input();
        let want = run(&mut plain, x.clone(), mode, Activation::Identity).relu().as_vec();
        let got = run(&mut fused, x, mode, Activation::Relu).as_vec();
        assert_eq!(got, want, "{mode:?}");
    }
}

/// Loss `Σ y · r` for a fixed random `r`, so every output gradient differs.
fn loss_and_grads<const C: usize>(
    s: &mut Setup<C>,
    mode: Mode,
    activation: Activation,
    r: &[f32],
) -> (f64, Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, _, h, w] = s.dims;
    let x = s.input();
    let rr = s.dev.tensor_from_vec(r.to_vec(), (n, Const::<C>, h, w));
    let (g0, b0) = (s.weight.clone(), s.bias.clone());
    let y = run(s, x.leaky_trace(), mode, activation);
    let loss = (y * rr).sum();
    let value = loss.array() as f64;
    let grads = loss.backward();
    (value, grads.get(&x).as_vec(), grads.get(&g0).as_vec(), grads.get(&b0).as_vec())
}

#[test]
fn backward_matches_central_differences() {
    const C: usize = 3;
    // The ReLU case keeps the probes away from its kink by the input chosen (seeded).
    for (mode, activation) in [
        (Mode::Train, Activation::Identity),
        (Mode::Eval, Activation::Identity),
        (Mode::Train, Activation::Relu),
        (Mode::Eval, Activation::Relu),
    ] {
        let mut s = setup::<C>(3, 3, 2, 11);
        let mut rng = SmallRng::seed_from_u64(5);
        let r: Vec<f32> = (0..s.x.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (_, dx, dg, db) = loss_and_grads(&mut s, mode, activation, &r);
        let eps = 1e-3f32;
        // Running stats change in training; restore them before each probe so probes agree.
        let (rm, rv) = (s.mean.as_vec(), s.var.as_vec());
        let probe = |s: &mut Setup<C>, edit: &dyn Fn(&mut Setup<C>, f32)| {
            let mut f = |delta: f32| {
                edit(s, delta);
                s.mean.copy_from(&rm);
                s.var.copy_from(&rv);
                let v = loss_and_grads(s, mode, activation, &r).0;
                edit(s, -delta);
                v
            };
            ((f(eps) - f(-eps)) / (2.0 * eps as f64)) as f32
        };
        let case = format!("{mode:?} {activation:?}");
        for i in [0, 5, 17, s.x.len() - 1] {
            let num = probe(&mut s, &|s, d| s.x[i] += d);
            assert!((num - dx[i]).abs() < 2e-2, "{case} dx[{i}]: {num} vs {}", dx[i]);
        }
        type Field<const C: usize> = fn(&mut Setup<C>) -> &mut Tensor<Rank1<C>, f32, Cpu>;
        let params: [(&str, &[f32], Field<C>); 2] = [("dweight", &dg, |s| &mut s.weight), ("dbias", &db, |s| &mut s.bias)];
        for ch in 0..C {
            for (what, grad, field) in params {
                let edit = move |s: &mut Setup<C>, d: f32| {
                    let tensor = field(s);
                    let mut values = tensor.as_vec();
                    values[ch] += d;
                    tensor.copy_from(&values);
                };
                let num = probe(&mut s, &edit);
                assert!((num - grad[ch]).abs() < 2e-2, "{case} {what}[{ch}]: {num} vs {}", grad[ch]);
            }
        }
    }
}

/// The backward adds into the input gradient it is given (dfdx accumulates a tensor's gradient
/// over every use of the tensor): starting from ones gives one plus the gradient from zeros.
#[test]
fn backward_accumulates_into_the_input_gradient() {
    let s = setup::<3>(2, 3, 2, 12);
    let dy: Vec<f32> = (0..s.x.len()).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
    let (mean, inv_std) = (vec![0.1, -0.2, 0.3], vec![1.5, 0.8, 1.1]);
    let (scale, bias) = (s.weight.as_vec(), s.bias.as_vec());
    let a: Vec<f32> = (0..3).map(|c| scale[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..3).map(|c| bias[c] - mean[c] * a[c]).collect();
    for relu in [false, true] {
        let train = |g: &mut [f32]| cpu_kernel::backward(&s.x, &dy, &mean, &inv_std, &scale, &bias, relu, 6, g);
        let eval = |g: &mut [f32]| cpu_kernel::eval_backward(&s.x, &dy, &mean, &inv_std, &a, &b, relu, 6, g);
        for (name, f) in [("train", &train as &dyn Fn(&mut [f32]) -> (Vec<f32>, Vec<f32>)), ("eval", &eval)] {
            let mut fresh = vec![0.0; s.x.len()];
            let sums = f(&mut fresh);
            let mut added = vec![1.0; s.x.len()];
            assert_eq!(f(&mut added), sums, "{name}");
            assert!(fresh.iter().any(|&v| v != 0.0));
            for (a, f) in added.iter().zip(&fresh) {
                assert_eq!(*a, 1.0 + f, "{name} relu={relu}");
            }
        }
    }
}
