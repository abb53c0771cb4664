//! Test helpers shared by every floor's unit tests (the bottom floor: it imports nothing of the crate):
//! plain reference implementations (a direct seven-loop convolution, an evaluation-mode BatchNorm on
//! NCHW slices) and random data.

use rand::{rngs::SmallRng, Rng};

/// Sizes of one 2-D convolution on an NCHW batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub height: usize,
    pub width: usize,
}

impl ConvGeometry {
    /// Output height and width.
    pub fn output_hw(&self) -> (usize, usize) {
        let out = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (out(self.height), out(self.width))
    }

    /// Values in one input batch.
    pub fn input_len(&self) -> usize {
        self.batch * self.inputs * self.height * self.width
    }
}

/// `y[n,o,r,c] = bias[o] + Σ_{i,kr,kc} w[o,i,kr,kc] · x[n,i,r·S+kr−P,c·S+kc−P]` (zero outside).
pub(crate) fn conv2d_reference(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len());
    assert_eq!(weight.len(), g.outputs * g.inputs * g.kernel * g.kernel);
    let (oh, ow) = g.output_hw();
    let mut y = vec![0.0f32; g.batch * g.outputs * oh * ow];
    for n in 0..g.batch {
        for o in 0..g.outputs {
            for r in 0..oh {
                for c in 0..ow {
                    let mut acc = bias[o];
                    for i in 0..g.inputs {
                        for kr in 0..g.kernel {
                            for kc in 0..g.kernel {
                                let (yy, xx) = (r * g.stride + kr, c * g.stride + kc);
                                if yy < g.padding || xx < g.padding {
                                    continue;
                                }
                                let (yy, xx) = (yy - g.padding, xx - g.padding);
                                if yy >= g.height || xx >= g.width {
                                    continue;
                                }
                                let xv = x[((n * g.inputs + i) * g.height + yy) * g.width + xx];
                                let wv = weight[((o * g.inputs + i) * g.kernel + kr) * g.kernel + kc];
                                acc += wv * xv;
                            }
                        }
                    }
                    y[((n * g.outputs + o) * oh + r) * ow + c] = acc;
                }
            }
        }
    }
    y
}

/// Evaluation-mode BatchNorm on an NCHW slice with `channels` channels of `hw` values each.
pub(crate) fn batchnorm_eval_reference(
    x: &[f32],
    channels: usize,
    hw: usize,
    (gamma, beta, mean, var, epsilon): (&[f32], &[f32], &[f32], &[f32], f32),
) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(k, &v)| {
            let c = (k / hw) % channels;
            (v - mean[c]) / (var[c] + epsilon).sqrt() * gamma[c] + beta[c]
        })
        .collect()
}

/// `len` values uniform in `[-scale, scale)`.
pub(crate) fn random_vec(rng: &mut SmallRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-scale..scale)).collect()
}
