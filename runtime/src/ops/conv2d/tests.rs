//! conv2d against the seven-loop reference (forward, gradients) and central finite differences.

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::{conv2d, reference, Conv2dParams};
use crate::kernels::ConvGeometry;
use crate::ops::NnError;

fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn assert_close(fast: &[f32], exact: &[f64], tol: f64, what: &str) {
    assert_eq!(fast.len(), exact.len(), "{what}: length");
    for (i, (&a, &b)) in fast.iter().zip(exact).enumerate() {
        assert!(
            (a as f64 - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

/// One random case: forward and all three gradients (through dfdx's tape) against the reference.
fn check_case<const I: usize, const O: usize, const K: usize>(
    batch: usize,
    (h, w): (usize, usize),
    params: Conv2dParams,
    with_bias: bool,
    seed: u64,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let dev = Cpu::default();
    let g = ConvGeometry::new(I, h, w, K, params.stride, params.padding).unwrap();
    let x_vals = random(batch * I * h * w, &mut rng);
    let w_vals = random(O * I * K * K, &mut rng);
    let b_vals = random(O, &mut rng);
    let x = dev.tensor_from_vec(x_vals.clone(), (batch, Const::<I>, h, w));
    let weight: Tensor<Rank4<O, I, K, K>, f32, Cpu> =
        dev.tensor_from_vec(w_vals.clone(), Rank4::<O, I, K, K>::default());
    let bias: Tensor<Rank1<O>, f32, Cpu> =
        dev.tensor_from_vec(b_vals.clone(), Rank1::<O>::default());
    let bias_ref = with_bias.then_some(&bias);

    let y = conv2d(x.leaky_trace(), &weight, bias_ref, params).unwrap();
    let expected = reference::forward(
        batch,
        &g,
        O,
        &widen(&x_vals),
        &widen(&w_vals),
        with_bias.then_some(&widen(&b_vals)[..]),
    );
    let case = format!("I={I} O={O} K={K} batch={batch} {h}x{w} {params:?} bias={with_bias}");
    assert_eq!(
        y.shape().concrete(),
        [batch, O, g.out_height(), g.out_width()],
        "{case}"
    );
    assert_close(&y.as_vec(), &expected, 1e-5, &format!("forward {case}"));

    // loss = Σ y · r with random r, so ∂loss/∂y = r.
    let r_vals = random(expected.len(), &mut rng);
    let r = dev.tensor_from_vec(r_vals.clone(), *y.shape());
    let grads = (y * r).sum().backward();
    let (dx, dw, db) = reference::backward(
        batch,
        &g,
        O,
        &widen(&x_vals),
        &widen(&w_vals),
        &widen(&r_vals),
    );
    assert_close(&grads.get(&x).as_vec(), &dx, 1e-5, &format!("dx {case}"));
    assert_close(
        &grads.get(&weight).as_vec(),
        &dw,
        1e-4,
        &format!("dw {case}"),
    );
    if with_bias {
        assert_close(&grads.get(&bias).as_vec(), &db, 1e-4, &format!("db {case}"));
    }
}

#[test]
fn forward_and_gradients_match_the_reference() {
    let p = |stride, padding| Conv2dParams { stride, padding };
    check_case::<1, 4, 3>(1, (7, 9), p(1, 1), true, 1);
    check_case::<3, 5, 3>(7, (8, 6), p(2, 0), true, 2);
    check_case::<3, 2, 5>(7, (9, 11), p(1, 2), false, 3);
    check_case::<1, 3, 5>(1, (5, 6), p(2, 2), true, 4);
    check_case::<3, 4, 1>(7, (4, 7), p(1, 0), true, 5);
    check_case::<3, 4, 1>(1, (5, 3), p(2, 1), false, 6);
    check_case::<1, 2, 3>(7, (6, 5), p(2, 1), false, 7);
    check_case::<3, 6, 5>(1, (6, 10), p(2, 0), true, 8);
    check_case::<2, 3, 3>(2, (3, 3), p(3, 0), true, 9);
}

/// Stride 1 with at least 8 input channels takes the transposed-convolution input gradient;
/// cover "same", "valid" and in-between paddings, kernels 3 and 5, batch 1 and 7.
#[test]
fn transposed_input_gradient_matches_the_reference() {
    let p = |stride, padding| Conv2dParams { stride, padding };
    check_case::<8, 5, 3>(7, (6, 9), p(1, 1), true, 21);
    check_case::<8, 3, 3>(2, (5, 5), p(1, 0), false, 22);
    check_case::<9, 4, 5>(1, (7, 6), p(1, 2), true, 23);
    check_case::<8, 3, 5>(3, (6, 7), p(1, 1), true, 24);
    check_case::<8, 2, 3>(1, (4, 3), p(1, 2), false, 25);
}

/// Central finite differences of the loss `Σ r · conv(x, w, b)` computed by the `f64` reference,
/// against the gradients of the fast op, for every input, weight and bias element.
#[test]
fn gradients_match_central_finite_differences() {
    const I: usize = 2;
    const O: usize = 3;
    const K: usize = 3;
    let (batch, h, w) = (2, 5, 4);
    let params = Conv2dParams {
        stride: 2,
        padding: 1,
    };
    let mut rng = SmallRng::seed_from_u64(11);
    let dev = Cpu::default();
    let g = ConvGeometry::new(I, h, w, K, params.stride, params.padding).unwrap();
    let x_vals = random(batch * I * h * w, &mut rng);
    let w_vals = random(O * I * K * K, &mut rng);
    let b_vals = random(O, &mut rng);
    let r_vals = random(batch * O * g.out_len(), &mut rng);

    let x = dev.tensor_from_vec(x_vals.clone(), (batch, Const::<I>, h, w));
    let weight: Tensor<Rank4<O, I, K, K>, f32, Cpu> =
        dev.tensor_from_vec(w_vals.clone(), Default::default());
    let bias: Tensor<Rank1<O>, f32, Cpu> = dev.tensor_from_vec(b_vals.clone(), Default::default());
    let y = conv2d(x.leaky_trace(), &weight, Some(&bias), params).unwrap();
    let r = dev.tensor_from_vec(r_vals.clone(), *y.shape());
    let grads = (y * r).sum().backward();

    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let y = reference::forward(batch, &g, O, x, w, Some(b));
        y.iter().zip(&r_vals).map(|(a, &r)| a * r as f64).sum()
    };
    let (x0, w0, b0) = (widen(&x_vals), widen(&w_vals), widen(&b_vals));
    let eps = 1e-3;
    let numeric = |which: usize, len: usize| -> Vec<f64> {
        (0..len)
            .map(|i| {
                let (mut xp, mut wp, mut bp) = (x0.clone(), w0.clone(), b0.clone());
                let (mut xm, mut wm, mut bm) = (x0.clone(), w0.clone(), b0.clone());
                let (p, m) = match which {
                    0 => (&mut xp[i], &mut xm[i]),
                    1 => (&mut wp[i], &mut wm[i]),
                    _ => (&mut bp[i], &mut bm[i]),
                };
                *p += eps;
                *m -= eps;
                (loss(&xp, &wp, &bp) - loss(&xm, &wm, &bm)) / (2.0 * eps)
            })
            .collect()
    };
    assert_close(&grads.get(&x).as_vec(), &numeric(0, x0.len()), 1e-4, "dx");
    assert_close(
        &grads.get(&weight).as_vec(),
        &numeric(1, w0.len()),
        1e-4,
        "dw",
    );
    assert_close(
        &grads.get(&bias).as_vec(),
        &numeric(2, b0.len()),
        1e-4,
        "db",
    );
}

/// Using the op twice in one graph adds the gradients (never overwrites them).
#[test]
fn gradients_accumulate_over_uses() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(12);
    let x = dev.tensor_from_vec(random(2 * 2 * 5 * 5, &mut rng), (2, Const::<2>, 5, 5));
    let weight: Tensor<Rank4<3, 2, 3, 3>, f32, Cpu> =
        dev.tensor_from_vec(random(54, &mut rng), Default::default());
    let bias: Tensor<Rank1<3>, f32, Cpu> =
        dev.tensor_from_vec(random(3, &mut rng), Default::default());
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };

    let once = conv2d(x.leaky_trace(), &weight, Some(&bias), p)
        .unwrap()
        .sum()
        .backward();
    let traced = x.leaky_trace();
    let first = conv2d(traced.with_empty_tape(), &weight, Some(&bias), p)
        .unwrap()
        .sum();
    let second = conv2d(traced, &weight, Some(&bias), p).unwrap().sum();
    let twice = (first + second).backward();
    for (a, b) in [
        (once.get(&x).as_vec(), twice.get(&x).as_vec()),
        (once.get(&weight).as_vec(), twice.get(&weight).as_vec()),
        (once.get(&bias).as_vec(), twice.get(&bias).as_vec()),
    ] {
        for (one, two) in a.iter().zip(&b) {
            assert!(
                (2.0 * one - two).abs() <= 1e-4 * (1.0 + two.abs()),
                "{one} * 2 != {two}"
            );
        }
    }
}

/// A permuted (non-contiguous) input gives the same output and routes its gradient back.
#[test]
fn non_contiguous_input_is_handled() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(13);
    let (h, w) = (4, 6);
    let stored = dev.tensor_from_vec(random(2 * w * h, &mut rng), (1, Const::<2>, w, h));
    let weight: Tensor<Rank4<2, 2, 3, 3>, f32, Cpu> =
        dev.tensor_from_vec(random(36, &mut rng), Default::default());
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let permuted = stored.leaky_trace().permute::<_, Axes4<0, 1, 3, 2>>();
    let contiguous = dev.tensor_from_vec(
        stored.clone().permute::<_, Axes4<0, 1, 3, 2>>().as_vec(),
        (1, Const::<2>, h, w),
    );
    let y = conv2d(permuted, &weight, None, p).unwrap();
    let y_ref = conv2d(contiguous.leaky_trace(), &weight, None, p).unwrap();
    assert_eq!(y.as_vec(), y_ref.as_vec());
    let g = y.sum().backward();
    let g_ref = y_ref.sum().backward();
    let back = dev
        .tensor_from_vec(g.get(&stored).as_vec(), (1, Const::<2>, w, h))
        .permute::<_, Axes4<0, 1, 3, 2>>();
    assert_eq!(back.as_vec(), g_ref.get(&contiguous).as_vec());
}

#[test]
fn kernel_larger_than_padded_image_is_an_error_naming_both_sizes() {
    let dev = Cpu::default();
    let x = dev.zeros_like(&(1, Const::<1>, 2, 8));
    let weight: Tensor<Rank4<1, 1, 5, 5>, f32, Cpu> = dev.zeros();
    let err = conv2d(
        x,
        &weight,
        None,
        Conv2dParams {
            stride: 1,
            padding: 1,
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NnError::KernelLargerThanImage {
            kernel: 5,
            padding: 1,
            height: 2,
            width: 8,
            padded_height: 4,
            padded_width: 10
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("5x5") && message.contains("2x8"),
        "{message}"
    );
}

#[test]
fn empty_batch_gives_empty_output() {
    let dev = Cpu::default();
    let x = dev.zeros_like(&(0, Const::<2>, 5, 5));
    let weight: Tensor<Rank4<3, 2, 3, 3>, f32, Cpu> = dev.ones();
    let y = conv2d(
        x,
        &weight,
        None,
        Conv2dParams {
            stride: 1,
            padding: 0,
        },
    )
    .unwrap();
    assert_eq!(y.shape().concrete(), [0, 3, 3, 3]);
}

/// Without a tape the kernels read the tensors in place: the same bits as the taped forward, with
/// and without bias, for a batch and one image; a weight that is a permuted view is copied first.
#[test]
fn the_inference_forward_reads_in_place_and_gives_the_taped_values() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(21);
    let p = Conv2dParams { stride: 1, padding: 1 };
    let weight: Tensor<Rank4<16, 3, 3, 3>, f32, Cpu> = dev.tensor_from_vec(random(16 * 27, &mut rng), Default::default());
    let bias: Tensor<Rank1<16>, f32, Cpu> = dev.tensor_from_vec(random(16, &mut rng), Default::default());
    let stored: Tensor<Rank4<3, 16, 3, 3>, f32, Cpu> = dev.tensor_from_vec(random(16 * 27, &mut rng), Default::default());
    let permuted: Tensor<Rank4<16, 3, 3, 3>, f32, Cpu> = stored.permute::<_, Axes4<1, 0, 2, 3>>();
    assert!(crate::ops::tensor_io::borrow_values(&permuted).is_none());
    for batch in [1, 3] {
        let x = dev.tensor_from_vec(random(batch * 3 * 9 * 7, &mut rng), (batch, Const::<3>, 9, 7));
        for w in [&weight, &permuted] {
            for b in [None, Some(&bias)] {
                let free = conv2d(x.clone(), w, b, p).unwrap();
                let taped = conv2d(x.leaky_trace(), w, b, p).unwrap();
                assert_eq!(free.as_vec(), taped.as_vec(), "batch {batch}, bias {}", b.is_some());
            }
        }
    }
}
