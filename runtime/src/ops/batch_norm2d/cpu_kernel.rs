//! The loops of the fused batch norm: per-plane partial sums in parallel, reduced per channel,
//! then one parallel pass that normalises (and rectifies) every plane.
//!
//! A plane is one `H·W` image channel; plane `i` belongs to channel `i % C`. Statistics are
//! accumulated in `f64` (two passes: mean, then squared deviations), so large batches do not
//! lose precision.

use rayon::prelude::*;

use crate::kernels::widest_fn;

/// Per-channel statistics of a batch.
#[derive(Debug, Clone)]
pub(crate) struct ChannelStats {
    /// Mean over batch and positions.
    pub mean: Vec<f32>,
    /// Biased variance (divided by the count), what training normalises with.
    pub var: Vec<f32>,
}

fn per_channel(channels: usize, partial: Vec<f64>) -> Vec<f64> {
    let mut total = vec![0.0f64; channels];
    for (i, v) in partial.into_iter().enumerate() {
        total[i % channels] += v;
    }
    total
}

/// Lanes of the manual accumulators: float sums only vectorise with independent partial sums
/// (16: one AVX-512 register, two AVX2 ones, four SSE ones).
const LANES: usize = 16;

/// The f32 lane sums and the f64 sum of the leftover values, added in f64.
fn finish(lanes: &[f32; LANES], rest: f64) -> f64 {
    rest + lanes.iter().map(|&v| v as f64).sum::<f64>()
}

widest_fn! {
    /// `Σ x` over one plane.
    fn plane_sum(xs: &[f32]) -> f64 {
        let mut acc = [0.0f32; LANES];
        let chunks = xs.chunks_exact(LANES);
        let rest: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
        for x in chunks {
            for l in 0..LANES {
                acc[l] += x[l];
            }
        }
        finish(&acc, rest)
    }
}

widest_fn! {
    /// `Σ (x − m)²` over one plane.
    fn plane_squared_deviations(xs: &[f32], m: f32) -> f64 {
        let mut acc = [0.0f32; LANES];
        let chunks = xs.chunks_exact(LANES);
        let rest: f64 = chunks.remainder().iter().map(|&v| ((v - m) * (v - m)) as f64).sum();
        for x in chunks {
            for l in 0..LANES {
                let d = x[l] - m;
                acc[l] += d * d;
            }
        }
        finish(&acc, rest)
    }
}

/// The gradient reaching the pre-activation `v · a + b`: all of it, or none where the ReLU cut
/// (`≤ 0`; a NaN pre-activation passes it, as PyTorch's ReLU backward does).
#[inline(always)]
fn passed(v: f32, g: f32, a: f32, b: f32, relu: bool) -> f32 {
    if !relu || !(v * a + b <= 0.0) {
        g
    } else {
        0.0
    }
}

widest_fn! {
    /// `(Σ g', Σ g'·(x − m))` over one plane, `g'` the gradient the ReLU passed.
    fn plane_gradient_sums(xs: &[f32], gs: &[f32], a: f32, b: f32, m: f32, relu: bool) -> (f64, f64) {
        let (mut sum_g, mut sum_gc) = ([0.0f32; LANES], [0.0f32; LANES]);
        let (xc, gc) = (xs.chunks_exact(LANES), gs.chunks_exact(LANES));
        let (mut rest_g, mut rest_gc) = (0.0f64, 0.0f64);
        for (&v, &g) in xc.remainder().iter().zip(gc.remainder()) {
            let g = passed(v, g, a, b, relu);
            rest_g += g as f64;
            rest_gc += (g * (v - m)) as f64;
        }
        for (x, g) in xc.zip(gc) {
            for l in 0..LANES {
                let g = passed(x[l], g[l], a, b, relu);
                sum_g[l] += g;
                sum_gc[l] += g * (x[l] - m);
            }
        }
        (finish(&sum_g, rest_g), finish(&sum_gc, rest_gc))
    }
}

widest_fn! {
    /// `d += k · (n·g' − Σg' − (x − m)·inv_std·Σg'(x − m)·inv_std)` over one plane: the input gradient.
    fn plane_input_gradient(d: &mut [f32], xs: &[f32], gs: &[f32], p: GradientTerms) {
        for ((d, &v), &g) in d.iter_mut().zip(xs).zip(gs) {
            let g = passed(v, g, p.a, p.b, p.relu);
            *d += p.k * (p.count * g - p.db - (v - p.mean) * p.inv_std * p.ds);
        }
    }
}

/// The per-channel constants of [`plane_input_gradient`].
#[derive(Clone, Copy)]
struct GradientTerms {
    a: f32,
    b: f32,
    mean: f32,
    inv_std: f32,
    k: f32,
    count: f32,
    db: f32,
    ds: f32,
    relu: bool,
}

widest_fn! {
    /// `d += a · g'` over one plane: the input gradient with fixed (running) statistics.
    fn plane_scaled_gradient(d: &mut [f32], xs: &[f32], gs: &[f32], a: f32, b: f32, relu: bool) {
        for ((d, &v), &g) in d.iter_mut().zip(xs).zip(gs) {
            *d += a * passed(v, g, a, b, relu);
        }
    }
}

/// Backward of `y = relu?(x · a + b)` with fixed statistics (`a = scale · inv_std`,
/// `b = bias − mean · a`): adds `dx = a · g'` into `g_in` and returns `(dscale, dbias)` with
/// `dscale = Σ g' · (x − mean) · inv_std`, `dbias = Σ g'`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_backward(
    x: &[f32],
    g_out: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    a: &[f32],
    b: &[f32],
    relu: bool,
    plane: usize,
    g_in: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let channels = mean.len();
    let plane = plane.max(1);
    let (dscale, dbias) = gradient_sums(x, g_out, (mean, inv_std), (&a, &b), relu, plane);
    g_in.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .zip(g_out.par_chunks(plane))
        .enumerate()
        .for_each(|(i, ((gi, xs), gs))| {
            let c = i % channels;
            plane_scaled_gradient(gi, xs, gs, a[c], b[c], relu);
        });
    (dscale.into_iter().map(|v| v as f32).collect(), dbias.into_iter().map(|v| v as f32).collect())
}

/// Mean and biased variance of every channel of `x` (`batch × C × plane`).
pub(crate) fn channel_stats(x: &[f32], channels: usize, plane: usize) -> ChannelStats {
    let count = (x.len() / channels.max(1)).max(1) as f64;
    let sums = x.par_chunks(plane.max(1)).map(plane_sum).collect();
    let mean: Vec<f64> = per_channel(channels, sums)
        .into_iter()
        .map(|s| s / count)
        .collect();
    let squares = x
        .par_chunks(plane.max(1))
        .enumerate()
        .map(|(i, p)| plane_squared_deviations(p, mean[i % channels] as f32))
        .collect();
    let var = per_channel(channels, squares)
        .into_iter()
        .map(|s| (s / count) as f32)
        .collect();
    ChannelStats {
        mean: mean.into_iter().map(|m| m as f32).collect(),
        var,
    }
}

widest_fn! {
    /// `out = relu?(x · a + b)` over one plane; the ReLU keeps NaN (PyTorch's semantics).
    fn plane_affine(out: &mut [f32], xs: &[f32], a: f32, b: f32, relu: bool) {
        if relu {
            for (o, &v) in out.iter_mut().zip(xs) {
                *o = crate::ops::relu::relu_value(v * a + b);
            }
        } else {
            for (o, &v) in out.iter_mut().zip(xs) {
                *o = v * a + b;
            }
        }
    }
}

/// `out = relu?(x · a[c] + b[c])`, plane by plane in parallel (the affine form of a batch norm).
pub(crate) fn affine(x: &[f32], a: &[f32], b: &[f32], relu: bool, plane: usize, out: &mut [f32]) {
    let channels = a.len();
    out.par_chunks_mut(plane.max(1))
        .zip(x.par_chunks(plane.max(1)))
        .enumerate()
        .for_each(|(i, (o, xs))| plane_affine(o, xs, a[i % channels], b[i % channels], relu));
}

/// Per channel, `(Σ g'·(x − mean)·inv_std, Σ g')` with `g'` the gradient the ReLU passed, for the
/// pre-activation `x · a + b`: the scale's and the bias's gradients (summed in `f64`).
fn gradient_sums(
    x: &[f32],
    g_out: &[f32],
    (mean, inv_std): (&[f32], &[f32]),
    (a, b): (&[f32], &[f32]),
    relu: bool,
    plane: usize,
) -> (Vec<f64>, Vec<f64>) {
    let channels = mean.len();
    let partial: Vec<(f64, f64)> = x
        .par_chunks(plane)
        .zip(g_out.par_chunks(plane))
        .enumerate()
        .map(|(i, (xs, gs))| {
            let c = i % channels;
            let (sum_g, sum_g_centered) = plane_gradient_sums(xs, gs, a[c], b[c], mean[c], relu);
            (sum_g, sum_g_centered * inv_std[c] as f64)
        })
        .collect();
    let dbias = per_channel(channels, partial.iter().map(|p| p.0).collect());
    let dscale = per_channel(channels, partial.iter().map(|p| p.1).collect());
    (dscale, dbias)
}

/// Backward of `y = relu?(scale · (x − mean) · inv_std + bias)` with batch statistics:
/// adds `dx` into `g_in` and returns `(dscale, dbias)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    x: &[f32],
    g_out: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    scale: &[f32],
    bias: &[f32],
    relu: bool,
    plane: usize,
    g_in: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let channels = mean.len();
    let plane = plane.max(1);
    // Per channel: the pre-activation is `v · a + b`; the ReLU passes the gradient where it is > 0.
    let a: Vec<f32> = (0..channels).map(|c| scale[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..channels).map(|c| bias[c] - mean[c] * a[c]).collect();
    let (dscale, dbias) = gradient_sums(x, g_out, (mean, inv_std), (&a, &b), relu, plane);
    let count = (x.len() / channels.max(1)).max(1) as f32;
    g_in.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .zip(g_out.par_chunks(plane))
        .enumerate()
        .for_each(|(i, ((gi, xs), gs))| {
            let c = i % channels;
            let terms = GradientTerms {
                a: a[c],
                b: b[c],
                mean: mean[c],
                inv_std: inv_std[c],
                k: scale[c] * inv_std[c] / count,
                count,
                db: dbias[c] as f32,
                ds: dscale[c] as f32,
                relu,
            };
            plane_input_gradient(gi, xs, gs, terms);
        });
    (
        dscale.into_iter().map(|v| v as f32).collect(),
        dbias.into_iter().map(|v| v as f32).collect(),
    )
}
