//! The fused batch norm against dfdx's `BatchNorm2D` (values, running statistics, gradients)
//! and against central finite differences.

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::{batch_norm2d_infer, batch_norm2d_train, Activation};
use crate::nn::{BatchNorm2D, NnError};

fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-2.0..2.0)).collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn random_bn<const C: usize>(dev: &Cpu, rng: &mut SmallRng) -> BatchNorm2D<C> {
    let mut bn: BatchNorm2D<C> = BuildModule::build(dev);
    bn.weight.copy_from(&random(C, rng));
    bn.bias.copy_from(&random(C, rng));
    bn.running_mean.copy_from(&random(C, rng));
    bn.running_var.copy_from(
        &random(C, rng)
            .iter()
            .map(|v| v.abs() + 0.1)
            .collect::<Vec<_>>(),
    );
    bn
}

fn check_against_dfdx<const C: usize>(
    batch: usize,
    h: usize,
    w: usize,
    activation: Activation,
    seed: u64,
) {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ours = random_bn::<C>(&dev, &mut rng);
    let mut theirs = ours.clone();
    let x = dev.tensor_from_vec(
        random(batch * C * h * w, &mut rng),
        (batch, Const::<C>, h, w),
    );
    let r = dev.tensor_from_vec(
        random(batch * C * h * w, &mut rng),
        (batch, Const::<C>, h, w),
    );

    let y = batch_norm2d_train(x.leaky_trace(), &mut ours, activation).unwrap();
    let y_ref = theirs.forward_mut(x.leaky_trace());
    let y_ref = match activation {
        Activation::Relu => y_ref.relu(),
        Activation::Identity => y_ref,
    };
    let case = format!("C={C} {batch}x{h}x{w} {activation:?}");
    assert_close(
        &y.as_vec(),
        &y_ref.as_vec(),
        1e-4,
        &format!("output {case}"),
    );
    assert_close(
        &ours.running_mean.as_vec(),
        &theirs.running_mean.as_vec(),
        1e-5,
        "running mean",
    );
    assert_close(
        &ours.running_var.as_vec(),
        &theirs.running_var.as_vec(),
        1e-5,
        "running var",
    );

    let g = (y * r.clone()).sum().backward();
    let g_ref = (y_ref * r).sum().backward();
    assert_close(
        &g.get(&x).as_vec(),
        &g_ref.get(&x).as_vec(),
        1e-3,
        &format!("dx {case}"),
    );
    assert_close(
        &g.get(&ours.weight).as_vec(),
        &g_ref.get(&theirs.weight).as_vec(),
        1e-3,
        "dscale",
    );
    assert_close(
        &g.get(&ours.bias).as_vec(),
        &g_ref.get(&theirs.bias).as_vec(),
        1e-3,
        "dbias",
    );
}

#[test]
fn training_matches_dfdx_batch_norm() {
    check_against_dfdx::<3>(4, 5, 6, Activation::Identity, 1);
    check_against_dfdx::<3>(4, 5, 6, Activation::Relu, 2);
    check_against_dfdx::<1>(1, 2, 3, Activation::Relu, 3);
    check_against_dfdx::<5>(7, 3, 2, Activation::Identity, 4);
}

#[test]
fn inference_matches_dfdx_batch_norm() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(5);
    let bn = random_bn::<4>(&dev, &mut rng);
    let x = dev.tensor_from_vec(random(3 * 4 * 5 * 2, &mut rng), (3, Const::<4>, 5, 2));
    let ours = batch_norm2d_infer(x.clone(), &bn, Activation::Relu).unwrap();
    let theirs = bn.forward(x).relu();
    assert_close(&ours.as_vec(), &theirs.as_vec(), 1e-5, "inference");
}

/// Central differences of `Σ r · bn(x)` (batch statistics, no ReLU so the loss is smooth).
#[test]
fn gradients_match_central_finite_differences() {
    const C: usize = 2;
    let (batch, h, w) = (3, 2, 2);
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(6);
    let bn = random_bn::<C>(&dev, &mut rng);
    let x0 = random(batch * C * h * w, &mut rng);
    let r = random(x0.len(), &mut rng);
    let loss = |x: &[f32], scale: &[f32], bias: &[f32]| -> f64 {
        let mut bn = bn.clone();
        bn.weight.copy_from(scale);
        bn.bias.copy_from(bias);
        let x = dev.tensor_from_vec(x.to_vec(), (batch, Const::<C>, h, w));
        let y = batch_norm2d_train(x, &mut bn, Activation::Identity)
            .unwrap()
            .as_vec();
        y.iter().zip(&r).map(|(&a, &b)| a as f64 * b as f64).sum()
    };
    let mut bn_t = bn.clone();
    let x = dev.tensor_from_vec(x0.clone(), (batch, Const::<C>, h, w));
    let y = batch_norm2d_train(x.leaky_trace(), &mut bn_t, Activation::Identity).unwrap();
    let grads = (y * dev.tensor_from_vec(r.clone(), (batch, Const::<C>, h, w)))
        .sum()
        .backward();

    let (s0, b0) = (bn.weight.as_vec(), bn.bias.as_vec());
    let eps = 1e-2f32;
    let numeric = |which: usize, len: usize| -> Vec<f32> {
        (0..len)
            .map(|i| {
                let (mut xp, mut sp, mut bp) = (x0.clone(), s0.clone(), b0.clone());
                let (mut xm, mut sm, mut bm) = (x0.clone(), s0.clone(), b0.clone());
                let (p, m) = match which {
                    0 => (&mut xp[i], &mut xm[i]),
                    1 => (&mut sp[i], &mut sm[i]),
                    _ => (&mut bp[i], &mut bm[i]),
                };
                *p += eps;
                *m -= eps;
                ((loss(&xp, &sp, &bp) - loss(&xm, &sm, &bm)) / (2.0 * eps as f64)) as f32
            })
            .collect()
    };
    assert_close(&grads.get(&x).as_vec(), &numeric(0, x0.len()), 5e-3, "dx");
    assert_close(
        &grads.get(&bn_t.weight).as_vec(),
        &numeric(1, C),
        5e-3,
        "dscale",
    );
    assert_close(
        &grads.get(&bn_t.bias).as_vec(),
        &numeric(2, C),
        5e-3,
        "dbias",
    );
}

#[test]
fn a_single_value_per_channel_is_an_error() {
    let dev = Cpu::default();
    let mut bn: BatchNorm2D<2> = BuildModule::build(&dev);
    let x = dev.zeros_like(&(1, Const::<2>, 1, 1));
    let err = batch_norm2d_train(x, &mut bn, Activation::Relu).unwrap_err();
    assert!(
        matches!(err, NnError::BatchNormTooFewValues { count: 1 }),
        "{err}"
    );
}
