//! Direct seven-loop convolution in `f64`, straight from the definition: the twin the fast
//! kernels are tested against. Slow by design; tests only.

use crate::kernels::ConvGeometry;

/// Index of the input pixel read by output `(oh, ow)` through kernel tap `(ki, kj)`, if inside.
fn tap(g: &ConvGeometry, oh: usize, ow: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
    let ih = (oh * g.stride() + ki) as isize - g.padding() as isize;
    let iw = (ow * g.stride() + kj) as isize - g.padding() as isize;
    let inside = (0..g.height() as isize).contains(&ih) && (0..g.width() as isize).contains(&iw);
    inside.then_some((ih as usize, iw as usize))
}

/// `out[n, o, oh, ow] = b[o] + Σ_c Σ_ki Σ_kj w[o, c, ki, kj] · x[n, c, oh·S + ki − P, ow·S + kj − P]`.
pub(super) fn forward(
    batch: usize,
    g: &ConvGeometry,
    out_channels: usize,
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
) -> Vec<f64> {
    let (c_in, h, wd, k) = (g.channels(), g.height(), g.width(), g.kernel());
    let (oh_len, ow_len) = (g.out_height(), g.out_width());
    let mut out = vec![0.0; batch * out_channels * oh_len * ow_len];
    for n in 0..batch {
        for o in 0..out_channels {
            for oh in 0..oh_len {
                for ow in 0..ow_len {
                    let mut sum = bias.map_or(0.0, |b| b[o]);
                    for c in 0..c_in {
                        for ki in 0..k {
                            for kj in 0..k {
                                if let Some((ih, iw)) = tap(g, oh, ow, ki, kj) {
                                    sum += w[((o * c_in + c) * k + ki) * k + kj]
                                        * x[((n * c_in + c) * h + ih) * wd + iw];
                                }
                            }
                        }
                    }
                    out[((n * out_channels + o) * oh_len + oh) * ow_len + ow] = sum;
                }
            }
        }
    }
    out
}

/// Gradients `(dx, dw, db)` of `Σ g_out · forward(x, w, b)`, by the same seven loops.
pub(super) fn backward(
    batch: usize,
    g: &ConvGeometry,
    out_channels: usize,
    x: &[f64],
    w: &[f64],
    g_out: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (c_in, h, wd, k) = (g.channels(), g.height(), g.width(), g.kernel());
    let (oh_len, ow_len) = (g.out_height(), g.out_width());
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; out_channels];
    for n in 0..batch {
        for o in 0..out_channels {
            for oh in 0..oh_len {
                for ow in 0..ow_len {
                    let go = g_out[((n * out_channels + o) * oh_len + oh) * ow_len + ow];
                    db[o] += go;
                    for c in 0..c_in {
                        for ki in 0..k {
                            for kj in 0..k {
                                if let Some((ih, iw)) = tap(g, oh, ow, ki, kj) {
                                    let xi = ((n * c_in + c) * h + ih) * wd + iw;
                                    let wi = ((o * c_in + c) * k + ki) * k + kj;
                                    dx[xi] += w[wi] * go;
                                    dw[wi] += x[xi] * go;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw, db)
}
