//! The callback's loss and gradient against the formulas written out on literal logits, the weight
//! schedule, and its errors.

use super::*;
use crate::learn::cross_entropy;
use crate::nn::Linear;
use dfdx::prelude::*;

type Flat2 = (usize, Const<2>);

/// Student logits, labels, and the batch the teacher sees.
const P: [f32; 6] = [1.0, 2.0, 0.5, -1.0, 0.3, 2.2];
const Y: [usize; 2] = [1, 2];
const X: [f32; 4] = [0.5, -1.0, 2.0, 0.25];
/// The teacher's weight (3 × 2, row-major) and bias.
const W: [f32; 6] = [1.0, -0.5, 0.25, 2.0, -1.5, 0.75];
const B: [f32; 3] = [0.1, -0.2, 0.3];

fn dev() -> Cpu {
    Cpu::default()
}

fn teacher() -> Linear<2, 3> {
    let dev = dev();
    let mut t = Linear::<2, 3>::build(&dev);
    t.weight = dev.tensor([[W[0], W[1]], [W[2], W[3]], [W[4], W[5]]]);
    t.bias = dev.tensor(B);
    t
}

fn ctx(pct_train: Fraction) -> Context {
    Context {
        epoch: 0,
        n_epochs: 1,
        batch: 0,
        n_batches: 1,
        iteration: 0,
        n_iterations: 1,
        pct_train,
        lr: 1e-3,
        momentum: None,
        last_loss: None,
    }
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// The teacher's logits `W·x + b`, row by row.
fn teacher_logits() -> Vec<Vec<f64>> {
    X.chunks(2)
        .map(|x| {
            (0..3)
                .map(|o| {
                    f64::from(W[2 * o]) * f64::from(x[0]) + f64::from(W[2 * o + 1]) * f64::from(x[1]) + f64::from(B[o])
                })
                .collect()
        })
        .collect()
}

/// `(1 − w)·CE + w·T²·KL_batchmean(softmax(q/T) ‖ softmax(p/T))` and its gradient with respect to
/// the student's logits: `(1 − w)(softmax(p) − onehot)/B + w·T·(softmax(p/T) − softmax(q/T))/B`.
fn by_hand(w: f64, t: f64) -> (f64, Vec<f64>) {
    let q = teacher_logits();
    let batch = Y.len() as f64;
    let (mut ce, mut kd, mut grad) = (0.0, 0.0, Vec::new());
    for (i, (p, y)) in P.chunks(3).zip(Y).enumerate() {
        let p: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
        let s = softmax(&p);
        ce -= s[y].ln();
        let ps = softmax(&p.iter().map(|v| v / t).collect::<Vec<_>>());
        let qs = softmax(&q[i].iter().map(|v| v / t).collect::<Vec<_>>());
        kd += qs.iter().zip(&ps).map(|(a, b)| a * (a.ln() - b.ln())).sum::<f64>();
        for c in 0..3 {
            let onehot = if c == y { 1.0 } else { 0.0 };
            grad.push(((1.0 - w) * (s[c] - onehot) + w * t * (ps[c] - qs[c])) / batch);
        }
    }
    ((1.0 - w) * ce / batch + w * t * t * kd / batch, grad)
}

/// Runs the callback's `after_loss` on the literal batch; returns the loss, the gradient reaching
/// the student's logits, and the terms the callback recorded.
fn run<T>(kd: &mut KnowledgeDistillation<T>, pct_train: Fraction) -> Result<(f32, Vec<f32>, DistillTerms), LearnError>
where
    KnowledgeDistillation<T>: Callback<(), Flat2, 3>,
{
    let dev = dev();
    let input: Tensor<Flat2, f32, Cpu> = dev.tensor_from_vec(X.to_vec(), (2, Const));
    let logits: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor_from_vec(P.to_vec(), (2, Const));
    let forward = Forward::new(&input, &Y, &logits);
    let task = cross_entropy(forward.logits_on_tape(), &Y)?;
    let loss = Callback::<(), Flat2, 3>::after_loss(kd, &ctx(pct_train), &forward, task)?;
    let value = loss.array();
    let grads = loss.backward();
    Ok((value, grads.get(&logits).as_vec(), kd.last_terms().expect("after_loss records its terms")))
}

fn weight(w: f64) -> LossWeight {
    LossWeight::from_fraction(w).unwrap()
}

#[test]
fn loss_and_gradient_mix_cross_entropy_and_soft_target_as_written_by_hand() {
    for (w, t) in [(0.5, 3.0), (0.25, 1.5), (1.0, 3.0)] {
        let mut kd =
            KnowledgeDistillation::new(teacher(), DistillLoss::soft_target(t as f32).unwrap(), weight(w)).unwrap();
        let (loss, grad, terms) = run(&mut kd, Fraction::ZERO).unwrap();
        let (want, want_grad) = by_hand(w, t);
        assert!((f64::from(loss) - want).abs() < 1e-5, "w={w} T={t}: {loss} vs {want}");
        for (i, (g, e)) in grad.iter().zip(&want_grad).enumerate() {
            assert!((f64::from(*g) - e).abs() < 1e-5, "w={w} T={t} d/dp[{i}]: {g} vs {e}");
        }
        assert_eq!(terms.weight, weight(w));
        assert_eq!(terms.total, loss);
        let mixed = (1.0 - w as f32) * terms.task + w as f32 * terms.distill.unwrap();
        assert!((terms.total - mixed).abs() < 1e-6, "{terms:?}");
    }
}

#[test]
fn decoupled_kd_receives_the_batch_labels() {
    let loss = DistillLoss::decoupled_kd(4.0, 1.0, 8.0).unwrap();
    let mut kd = KnowledgeDistillation::new(teacher(), loss, weight(0.5)).unwrap();
    let (_, _, terms) = run(&mut kd, Fraction::ZERO).unwrap();
    let dev = dev();
    let q: Vec<f32> = teacher_logits().concat().iter().map(|&v| v as f32).collect();
    let student = dev.tensor_from_vec(P.to_vec(), (2, 3)).leaky_trace();
    let direct = loss.loss(student, &dev.tensor_from_vec(q, (2, 3)), Some(&Y)).unwrap().array();
    assert!((terms.distill.unwrap() - direct).abs() < 1e-5, "{terms:?} vs {direct}");
}

/// A teacher that fails whenever it runs: shows when the callback calls it.
struct Refuses;

impl Module<Tensor<Flat2, f32, Cpu>> for Refuses {
    type Output = Tensor<(usize, Const<3>), f32, Cpu>;
    type Error = std::io::Error;
    fn try_forward(&self, _: Tensor<Flat2, f32, Cpu>) -> Result<Self::Output, Self::Error> {
        Err(std::io::Error::other("the teacher ran"))
    }
}

#[test]
fn a_scheduled_weight_of_zero_leaves_the_loss_alone_and_skips_the_teacher() {
    let mut kd =
        KnowledgeDistillation::new(Refuses, DistillLoss::Mutual, weight(0.6)).unwrap().with_schedule(SparsitySchedule::lin());
    let (loss, grad, terms) = run(&mut kd, Fraction::ZERO).unwrap();
    let (ce, ce_grad) = by_hand(0.0, 1.0);
    assert!((f64::from(loss) - ce).abs() < 1e-5, "only the task loss at the start: {loss} vs {ce}");
    assert!(grad.iter().zip(&ce_grad).all(|(g, e)| (f64::from(*g) - e).abs() < 1e-5));
    assert_eq!((terms.distill, terms.weight), (None, LossWeight::ZERO));

    let err = run(&mut kd, Fraction::new(0.5).unwrap()).unwrap_err().to_string();
    assert!(err.contains("KnowledgeDistillation") && err.contains("the teacher ran"), "{err}");
}

#[test]
fn the_schedule_scales_the_weight_with_progress() {
    let kd = KnowledgeDistillation::new((), DistillLoss::Logits, weight(0.8)).unwrap().with_schedule(SparsitySchedule::lin());
    for (pct, want) in [(0.0, 0.0), (0.5, 0.4), (1.0, 0.8)] {
        let got = kd.weight_at(Fraction::new(pct).unwrap()).fraction();
        assert!((got - want).abs() < 1e-12, "pct_train {pct}: {got} vs {want}");
    }
    let constant = KnowledgeDistillation::new((), DistillLoss::Logits, weight(0.8)).unwrap();
    assert_eq!(constant.weight_at(Fraction::ZERO), weight(0.8), "no schedule: the weight throughout");
}

#[test]
fn bad_parameters_are_errors() {
    for (loss, why) in [
        (DistillLoss::SoftTarget { temperature: 0.0 }, "temperature 0"),
        (DistillLoss::SoftTarget { temperature: f32::NAN }, "temperature NaN"),
        (DistillLoss::DecoupledKd { temperature: 4.0, alpha: -1.0, beta: 8.0, normalize: false }, "negative alpha"),
    ] {
        let err = KnowledgeDistillation::new((), loss, weight(0.5)).unwrap_err();
        assert!(matches!(err, CompressError::BadParameter { .. }), "{why}: {err}");
    }
    let err = KnowledgeDistillation::new((), DistillLoss::FitNet, weight(0.5)).unwrap_err();
    assert!(matches!(err, CompressError::WrongInputs { .. }) && err.to_string().contains("logits"), "{err}");
    for w in [1.5, -0.1, f64::NAN] {
        assert!(LossWeight::from_fraction(w).is_err(), "w = {w}");
    }
    assert!("150%".parse::<LossWeight>().is_err());
}
