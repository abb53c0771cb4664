//! Plain reference versions of the pooling loops of [`crate::kernels::pool`] (test builds only), written straight from PyTorch's definitions with
//! signed padded coordinates and no shared helpers, so the tests can hold the fast kernels against them.
//!
//! Buffers are contiguous `(planes, height, width)`; a plane is one `(sample, channel)` image.
//! These loops are slow on purpose: clarity first.

use crate::kernels::pool::PoolWindow;

/// The value of the padded input at signed position `(h, w)`, or `None` in the padding.
fn at(plane: &[f32], height: usize, width: usize, h: isize, w: isize) -> Option<f32> {
    let inside = (0..height as isize).contains(&h) && (0..width as isize).contains(&w);
    inside.then(|| plane[h as usize * width + w as usize])
}

/// `floor((n + 2P − K) / S) + 1`.
fn out_len(n: usize, window: PoolWindow) -> usize {
    (n + 2 * window.padding - window.kernel) / window.stride + 1
}

/// Signed coordinates of every position of window `(oh, ow)` in row-major order, padding included.
fn window_positions(
    oh: usize,
    ow: usize,
    window: PoolWindow,
) -> impl Iterator<Item = (isize, isize)> {
    let (k, s, p) = (
        window.kernel as isize,
        window.stride as isize,
        window.padding as isize,
    );
    let (top, left) = (oh as isize * s - p, ow as isize * s - p);
    (0..k).flat_map(move |dh| (0..k).map(move |dw| (top + dh, left + dw)))
}

/// Max pooling: padding reads as `-inf`; returns the output and, per output, the flat index in its
/// plane of the first maximum (a NaN counts as the maximum, as in PyTorch).
pub fn max_pool2d(
    input: &[f32],
    (height, width): (usize, usize),
    window: PoolWindow,
) -> (Vec<f32>, Vec<usize>) {
    let (oh_n, ow_n) = (out_len(height, window), out_len(width, window));
    let mut out = Vec::new();
    let mut argmax = Vec::new();
    for plane in input.chunks_exact(height * width) {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut best = f32::NEG_INFINITY;
                let mut best_at = None;
                for (h, w) in window_positions(oh, ow, window) {
                    if let Some(v) = at(plane, height, width, h, w) {
                        let index = h as usize * width + w as usize;
                        if best_at.is_none() || v > best || v.is_nan() {
                            best = v;
                            best_at = Some(index);
                        }
                    }
                }
                out.push(best);
                argmax.push(
                    best_at.expect("every window holds a real pixel when padding <= kernel / 2"),
                );
            }
        }
    }
    (out, argmax)
}

/// Average pooling with `count_include_pad = True`: padding reads as 0 and every window divides by K².
pub fn avg_pool2d(input: &[f32], (height, width): (usize, usize), window: PoolWindow) -> Vec<f32> {
    let (oh_n, ow_n) = (out_len(height, window), out_len(width, window));
    let divisor = (window.kernel * window.kernel) as f32;
    let mut out = Vec::new();
    for plane in input.chunks_exact(height * width) {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let sum: f32 = window_positions(oh, ow, window)
                    .map(|(h, w)| at(plane, height, width, h, w).unwrap_or(0.0))
                    .sum();
                out.push(sum / divisor);
            }
        }
    }
    out
}

/// Adaptive average pooling into `out_h × out_w` with PyTorch's bins:
/// rows `floor(i·H/OH) .. ceil((i+1)·H/OH)`, columns likewise.
pub fn adaptive_avg_pool2d(
    input: &[f32],
    (height, width): (usize, usize),
    (out_h, out_w): (usize, usize),
) -> Vec<f32> {
    let bin = |i: usize, n: usize, m: usize| (i * n / m, ((i + 1) * n).div_ceil(m));
    let mut out = Vec::new();
    for plane in input.chunks_exact(height * width) {
        for i in 0..out_h {
            let (h0, h1) = bin(i, height, out_h);
            for j in 0..out_w {
                let (w0, w1) = bin(j, width, out_w);
                let mut sum = 0.0;
                for h in h0..h1 {
                    for w in w0..w1 {
                        sum += plane[h * width + w];
                    }
                }
                out.push(sum / ((h1 - h0) * (w1 - w0)) as f32);
            }
        }
    }
    out
}

/// Global average pooling: the mean of each plane of `plane_len` values.
pub fn global_avg_pool2d(input: &[f32], plane_len: usize) -> Vec<f32> {
    input
        .chunks_exact(plane_len)
        .map(|plane| plane.iter().sum::<f32>() / plane_len as f32)
        .collect()
}
