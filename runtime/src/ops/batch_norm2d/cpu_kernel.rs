//! The loops of the fused batch norm: per-plane partial sums in parallel, reduced per channel,
//! then one parallel pass that normalises (and rectifies) every plane.
//!
//! A plane is one `H·W` image channel; plane `i` belongs to channel `i % C`. Statistics are
//! accumulated in `f64` (two passes: mean, then squared deviations), so large batches do not
//! lose precision.

use rayon::prelude::*;

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

/// Lanes of the manual accumulators: float sums only vectorise with independent partial sums.
const LANES: usize = 8;

/// `(Σ f(v), Σ g(v))` over a slice with `LANES` independent f32 accumulators.
#[inline(always)]
fn lane_sums2(xs: &[f32], ys: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        for l in 0..LANES {
            let (p, q) = f(x[l], y[l]);
            a[l] += p;
            b[l] += q;
        }
    }
    let (mut sa, mut sb) = (0.0f64, 0.0f64);
    for (&x, &y) in xr.iter().zip(yr) {
        let (p, q) = f(x, y);
        sa += p as f64;
        sb += q as f64;
    }
    (
        sa + a.iter().map(|&v| v as f64).sum::<f64>(),
        sb + b.iter().map(|&v| v as f64).sum::<f64>(),
    )
}

/// Mean and biased variance of every channel of `x` (`batch × C × plane`).
pub(crate) fn channel_stats(x: &[f32], channels: usize, plane: usize) -> ChannelStats {
    let count = (x.len() / channels.max(1)).max(1) as f64;
    let sums = x
        .par_chunks(plane.max(1))
        .map(|p| lane_sums2(p, p, |v, _| (v, 0.0)).0)
        .collect();
    let mean: Vec<f64> = per_channel(channels, sums)
        .into_iter()
        .map(|s| s / count)
        .collect();
    let squares = x
        .par_chunks(plane.max(1))
        .enumerate()
        .map(|(i, p)| {
            let m = mean[i % channels] as f32;
            lane_sums2(p, p, |v, _| ((v - m) * (v - m), 0.0)).0
        })
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

/// `out = relu?(x · a[c] + b[c])`, plane by plane in parallel (the affine form of a batch norm).
pub(crate) fn affine(x: &[f32], a: &[f32], b: &[f32], relu: bool, plane: usize, out: &mut [f32]) {
    let channels = a.len();
    out.par_chunks_mut(plane.max(1))
        .zip(x.par_chunks(plane.max(1)))
        .enumerate()
        .for_each(|(i, (o, xs))| {
            let (ac, bc) = (a[i % channels], b[i % channels]);
            if relu {
                for (o, &v) in o.iter_mut().zip(xs) {
                    *o = (v * ac + bc).max(0.0);
                }
            } else {
                for (o, &v) in o.iter_mut().zip(xs) {
                    *o = v * ac + bc;
                }
            }
        });
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
    let pass = move |v: f32, g: f32, a: f32, b: f32| if !relu || v * a + b > 0.0 { g } else { 0.0 };
    let partial: Vec<(f64, f64)> = x
        .par_chunks(plane)
        .zip(g_out.par_chunks(plane))
        .enumerate()
        .map(|(i, (xs, gs))| {
            let c = i % channels;
            let (ac, bc, m) = (a[c], b[c], mean[c]);
            let (sum_g, sum_g_centered) = lane_sums2(xs, gs, |v, g| {
                let g = pass(v, g, ac, bc);
                (g, g * (v - m))
            });
            (sum_g, sum_g_centered * inv_std[c] as f64)
        })
        .collect();
    let dbias = per_channel(channels, partial.iter().map(|p| p.0).collect());
    let dscale = per_channel(channels, partial.iter().map(|p| p.1).collect());
    let count = (x.len() / channels.max(1)).max(1) as f32;
    g_in.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .zip(g_out.par_chunks(plane))
        .enumerate()
        .for_each(|(i, ((gi, xs), gs))| {
            let c = i % channels;
            let (ac, bc, m, is) = (a[c], b[c], mean[c], inv_std[c]);
            let k = scale[c] * is / count;
            let (db, ds) = (dbias[c] as f32, dscale[c] as f32);
            for ((d, &v), &g) in gi.iter_mut().zip(xs).zip(gs) {
                let g = pass(v, g, ac, bc);
                *d += k * (count * g - db - (v - m) * is * ds);
            }
        });
    (
        dscale.into_iter().map(|v| v as f32).collect(),
        dbias.into_iter().map(|v| v as f32).collect(),
    )
}
