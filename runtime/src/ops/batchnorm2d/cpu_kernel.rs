//! The loops of batch normalisation, parallel over channels.
//!
//! Layout is NCHW: channel `c` of sample `b` is the contiguous run `x[(b*C + c)*HW ..][..HW]`.

use rayon::prelude::*;

use super::Mode;

/// Sizes of an NCHW activation, spatial dimensions flattened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Dims {
    fn plane(&self, x: &[f32], b: usize, c: usize) -> std::ops::Range<usize> {
        let start = (b * self.c + c) * self.hw;
        debug_assert!(start + self.hw <= x.len());
        start..start + self.hw
    }
}

/// Per-channel mean and biased variance, accumulated in `f64` (two passes).
pub(crate) fn batch_stats(x: &[f32], d: Dims) -> (Vec<f64>, Vec<f64>) {
    let count = (d.n * d.hw).max(1) as f64;
    (0..d.c)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = (0..d.n).map(|b| sum_f32(&x[d.plane(x, b, c)]) as f64).sum();
            let mean = sum / count;
            let m = mean as f32;
            let ss: f64 = (0..d.n)
                .map(|b| x[d.plane(x, b, c)].iter().map(|&v| (v - m) * (v - m)).sum::<f32>() as f64)
                .sum();
            (mean, ss / count)
        })
        .unzip()
}

fn sum_f32(v: &[f32]) -> f32 {
    // Eight independent accumulators: vectorisable and less rounding than one running sum.
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for ch in chunks {
        for i in 0..8 {
            acc[i] += ch[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y = (x - mean) * invstd * gamma + beta`, per channel.
pub(crate) fn normalize(
    x: &[f32],
    y: &mut [f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    d: Dims,
) {
    y.par_chunks_mut(d.hw).zip(x.par_chunks(d.hw)).enumerate().for_each(|(i, (yp, xp))| {
        let c = i % d.c;
        let scale = invstd[c] * gamma[c];
        let shift = beta[c] - mean[c] * scale;
        for (yv, &xv) in yp.iter_mut().zip(xp) {
            *yv = xv * scale + shift;
        }
    });
}

/// Gradients of batch normalisation: returns `(dgamma, dbeta)` and adds the input gradient into `dx`
/// (`x.len()` values, accumulated as dfdx expects).
///
/// In training mode the batch statistics depend on `x`:
/// `dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))` with `M = N*H*W`.
/// In eval mode they are constants: `dx = dy * gamma * invstd`.
pub(crate) fn backward(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    mode: Mode,
    d: Dims,
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..d.c)
        .into_par_iter()
        .map(|c| {
            let (mut sdy, mut sdyx) = (0.0f64, 0.0f64);
            for b in 0..d.n {
                let r = d.plane(x, b, c);
                let (mut a, mut bx) = (0.0f32, 0.0f32);
                for (&g, &xv) in dy[r.clone()].iter().zip(&x[r]) {
                    a += g;
                    bx += g * (xv - mean[c]);
                }
                sdy += a as f64;
                sdyx += bx as f64;
            }
            ((sdyx * invstd[c] as f64) as f32, sdy as f32)
        })
        .unzip();
    let m = (d.n * d.hw) as f32;
    dx.par_chunks_mut(d.hw).enumerate().for_each(|(i, dxp)| {
        let c = i % d.c;
        let r = i * d.hw..(i + 1) * d.hw;
        let k = gamma[c] * invstd[c];
        match mode {
            Mode::Eval => {
                for (o, &g) in dxp.iter_mut().zip(&dy[r]) {
                    *o += g * k;
                }
            }
            Mode::Train => {
                let (mu, is) = (mean[c], invstd[c]);
                let (db, dg) = (dbeta[c] / m, dgamma[c] / m);
                for ((o, &g), &xv) in dxp.iter_mut().zip(&dy[r.clone()]).zip(&x[r]) {
                    let xhat = (xv - mu) * is;
                    *o += k * (g - db - xhat * dg);
                }
            }
        }
    });
    (dgamma, dbeta)
}
