//! The loops of batch normalisation: the training passes are the fused op's
//! ([`crate::ops::batch_norm2d`], without its ReLU); the eval-mode backward is here.
//!
//! Layout is NCHW: channel `c` of sample `b` is the contiguous run `x[(b*C + c)*HW ..][..HW]`.

use rayon::prelude::*;

use super::Mode;
use crate::ops::batch_norm2d::cpu_kernel as fused;

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

/// Per-channel mean and biased variance (the fused op's statistics: 16-lane partial sums per plane,
/// added per channel in `f64`).
pub(crate) fn batch_stats(x: &[f32], d: Dims) -> (Vec<f64>, Vec<f64>) {
    let stats = fused::channel_stats(x, d.c, d.hw);
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect();
    (widen(stats.mean), widen(stats.var))
}

/// `y = (x - mean) * invstd * gamma + beta`, per channel (the fused op's affine pass, no ReLU).
pub(crate) fn normalize(
    x: &[f32],
    y: &mut [f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    d: Dims,
) {
    let scale: Vec<f32> = (0..d.c).map(|c| invstd[c] * gamma[c]).collect();
    let shift: Vec<f32> = (0..d.c).map(|c| beta[c] - mean[c] * scale[c]).collect();
    fused::affine(x, &scale, &shift, false, d.hw, y);
}

/// Gradients of batch normalisation: returns `(dgamma, dbeta)` and adds the input gradient into `dx`
/// (`x.len()` values, accumulated as dfdx expects).
///
/// In training mode the batch statistics depend on `x` (the fused op's backward, no ReLU):
/// `dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))` with `M = N*H*W`.
/// In eval mode they are constants: `dx = dy * gamma * invstd`.
#[allow(clippy::too_many_arguments)]
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
    if mode == Mode::Train {
        // Without the ReLU the shift never matters.
        let unused_shift = vec![0.0; d.c];
        return fused::backward(x, dy, mean, invstd, gamma, &unused_shift, false, d.hw, dx);
    }
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
    dx.par_chunks_mut(d.hw).zip(dy.par_chunks(d.hw)).enumerate().for_each(|(i, (dxp, dyp))| {
        let c = i % d.c;
        let k = gamma[c] * invstd[c];
        for (o, &g) in dxp.iter_mut().zip(dyp) {
            *o += g * k;
        }
    });
    (dgamma, dbeta)
}
