//! Plain batch normalisation in `f64`, written for clarity, that the tests compare the kernel with.

/// Forward with batch statistics (`train = true`) or the given running ones; returns
/// `(y, batch_mean, batch_biased_var)`.
pub(crate) fn forward(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    gamma: &[f32],
    beta: &[f32],
    running: Option<(&[f32], &[f32])>,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let idx = |b: usize, ch: usize, i: usize| (b * c + ch) * h * w + i;
    let count = (n * h * w) as f64;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        for b in 0..n {
            for i in 0..h * w {
                mean[ch] += x[idx(b, ch, i)] as f64 / count;
            }
        }
        for b in 0..n {
            for i in 0..h * w {
                var[ch] += (x[idx(b, ch, i)] as f64 - mean[ch]).powi(2) / count;
            }
        }
    }
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let (m, v) = match running {
            Some((rm, rv)) => (rm[ch] as f64, rv[ch] as f64),
            None => (mean[ch], var[ch]),
        };
        for b in 0..n {
            for i in 0..h * w {
                let k = idx(b, ch, i);
                y[k] = (x[k] as f64 - m) / (v + eps).sqrt() * gamma[ch] as f64 + beta[ch] as f64;
            }
        }
    }
    (y, mean, var)
}
