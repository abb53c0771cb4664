//! The CPU loops of 2-D pooling, forward and backward, on contiguous `(planes, H, W)` buffers: what
//! the tape ops of `ops::pool2d` and the [`slices`](super::slices) functions run.
//!
//! A plane is one `(sample, channel)` image; planes are independent, so work is split into runs of
//! whole planes that rayon hands to the cores once there is enough of it. Inside a plane the loops
//! walk rows with contiguous inner loops and allocate nothing. Backward passes accumulate (`+=`) into
//! the input gradient, as dfdx's tape requires.

use rayon::prelude::*;

use super::geometry::{AdaptiveGeometry, PlaneGeometry};
use super::plan::pool_plane;

/// Below this many input elements per task, splitting costs more than it saves.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 15;
/// Tasks per rayon thread, so a slow core does not hold the others back.
const TASKS_PER_THREAD: usize = 4;

/// How many planes one task handles, or `planes` when the whole job should run on the calling thread.
fn planes_per_task(planes: usize, in_plane_len: usize) -> usize {
    let threads = rayon::current_num_threads();
    let total = planes * in_plane_len;
    if threads <= 1 || total < 2 * MIN_ELEMENTS_PER_TASK {
        return planes.max(1);
    }
    let by_size = MIN_ELEMENTS_PER_TASK.div_ceil(in_plane_len.max(1));
    let by_balance = planes.div_ceil(threads * TASKS_PER_THREAD);
    by_size.max(by_balance).max(1)
}

/// Runs `work(dst_planes, src_planes)` over runs of whole planes, in parallel when it pays.
/// `dst` holds `dst_plane` values per plane and `src` holds `src_plane` values per plane (both ≥ 1).
fn for_plane_runs<D: Send, S: Sync>(
    dst: &mut [D],
    dst_plane: usize,
    src: &[S],
    src_plane: usize,
    work: impl Fn(&mut [D], &[S]) + Sync,
) {
    let planes = dst.len() / dst_plane;
    let run = planes_per_task(planes, src_plane.max(dst_plane));
    if run >= planes {
        work(dst, src);
    } else {
        dst.par_chunks_mut(run * dst_plane)
            .zip(src.par_chunks(run * src_plane))
            .for_each(|(d, s)| work(d, s));
    }
}

/// PyTorch's max rule: a larger value wins, a NaN always wins, ties keep the first.
#[inline(always)]
fn beats(candidate: f32, best: f32) -> bool {
    candidate > best || candidate.is_nan()
}

// ---------------------------------------------------------------------------------------------
// Max pooling
// ---------------------------------------------------------------------------------------------

/// Max pooling forward over `input` (`planes × in_len`) into `output` (`planes × out_len`). With
/// `argmax`, also records for every output the plane-relative index of the input it took.
pub(crate) fn max_pool_forward(
    geo: &PlaneGeometry,
    input: &[f32],
    output: &mut [f32],
    argmax: Option<&mut [u32]>,
) {
    let (in_len, out_len) = (geo.in_len(), geo.out_len());
    match argmax {
        Some(argmax) => {
            // Pair each output with its argmax slot so both split along the same planes.
            let planes = output.len() / out_len;
            let run = planes_per_task(planes, in_len);
            let work = |out: &mut [f32], arg: &mut [u32], inp: &[f32]| {
                for ((o, a), p) in out
                    .chunks_exact_mut(out_len)
                    .zip(arg.chunks_exact_mut(out_len))
                    .zip(inp.chunks_exact(in_len))
                {
                    max_plane(geo, p, o, a);
                }
            };
            if run >= planes {
                work(output, argmax, input);
            } else {
                output
                    .par_chunks_mut(run * out_len)
                    .zip(argmax.par_chunks_mut(run * out_len))
                    .zip(input.par_chunks(run * in_len))
                    .for_each(|((o, a), p)| work(o, a, p));
            }
        }
        // Without argmax, the plans' row kernels (separable windows, the 2×2 one): the same values.
        None => for_plane_runs(output, out_len, input, in_len, |out, inp| {
            let mut buf = Vec::new();
            for (o, p) in out.chunks_exact_mut(out_len).zip(inp.chunks_exact(in_len)) {
                pool_plane(p, geo, 0..geo.out_h, o, &mut buf);
            }
        }),
    }
}

/// One plane of max pooling, with the plane-relative index of the input each output took.
fn max_plane(
    geo: &PlaneGeometry,
    plane: &[f32],
    out: &mut [f32],
    argmax: &mut [u32],
) {
    if geo.is_2x2_stride_2() {
        return max_plane_2x2(geo, plane, out, argmax);
    }
    let w = geo.in_w;
    for oh in 0..geo.out_h {
        let rows = geo.rows(oh);
        for ow in 0..geo.out_w {
            let cols = geo.cols(ow);
            let mut best = f32::NEG_INFINITY;
            let mut best_at = rows.start * w + cols.start;
            for h in rows.clone() {
                let row = &plane[h * w..(h + 1) * w];
                for c in cols.clone() {
                    if beats(row[c], best) {
                        best = row[c];
                        best_at = h * w + c;
                    }
                }
            }
            out[oh * geo.out_w + ow] = best;
            argmax[oh * geo.out_w + ow] = best_at as u32;
        }
    }
}

/// The 2 × 2, stride 2, unpadded case: each pair of input rows makes one output row. Iterating
/// row pairs and column pairs with `chunks_exact` keeps the loops free of index arithmetic and
/// bounds checks (an odd last row or column is dropped, as the output size says).
fn max_plane_2x2(
    geo: &PlaneGeometry,
    plane: &[f32],
    out: &mut [f32],
    argmax: &mut [u32],
) {
    let (w, out_w) = (geo.in_w, geo.out_w);
    let row_pairs = plane[..2 * geo.out_h * w].chunks_exact(2 * w);
    let out_rows = out
        .chunks_exact_mut(out_w)
        .zip(argmax.chunks_exact_mut(out_w));
    for (oh, (pair, (out_row, arg_row))) in row_pairs.zip(out_rows).enumerate() {
        let (top, bottom) = pair.split_at(w);
        let top_at = (2 * oh * w) as u32;
        let bottom_at = top_at + w as u32;
        let windows = top[..2 * out_w].chunks_exact(2).zip(bottom.chunks_exact(2));
        for (ow, ((o, a), (t, b))) in out_row.iter_mut().zip(arg_row).zip(windows).enumerate() {
            let c = 2 * ow as u32;
            // Row-major window order, so the first maximum keeps the gradient on ties.
            let (mut best, mut at) = (t[0], top_at + c);
            for (v, i) in [
                (t[1], top_at + c + 1),
                (b[0], bottom_at + c),
                (b[1], bottom_at + c + 1),
            ] {
                if beats(v, best) {
                    best = v;
                    at = i;
                }
            }
            *o = best;
            *a = at;
        }
    }
}

/// Max pooling backward: each output's gradient goes to the input its forward pass took.
pub(crate) fn max_pool_backward(
    geo: &PlaneGeometry,
    argmax: &[u32],
    grad_out: &[f32],
    grad_in: &mut [f32],
) {
    let (in_len, out_len) = (geo.in_len(), geo.out_len());
    let planes = grad_in.len() / in_len;
    let run = planes_per_task(planes, in_len);
    let work = |g_in: &mut [f32], g_out: &[f32], arg: &[u32]| {
        for ((gi, go), a) in g_in
            .chunks_exact_mut(in_len)
            .zip(g_out.chunks_exact(out_len))
            .zip(arg.chunks_exact(out_len))
        {
            for (&g, &at) in go.iter().zip(a) {
                gi[at as usize] += g;
            }
        }
    };
    if run >= planes {
        work(grad_in, grad_out, argmax);
    } else {
        grad_in
            .par_chunks_mut(run * in_len)
            .zip(grad_out.par_chunks(run * out_len))
            .zip(argmax.par_chunks(run * out_len))
            .for_each(|((gi, go), a)| work(gi, go, a));
    }
}

// ---------------------------------------------------------------------------------------------
// Average pooling (count_include_pad = True: always divide by K²)
// ---------------------------------------------------------------------------------------------

/// Average pooling forward; padding counts as zeros, so every window is divided by K².
pub(crate) fn avg_pool_forward(geo: &PlaneGeometry, input: &[f32], output: &mut [f32]) {
    let (in_len, out_len) = (geo.in_len(), geo.out_len());
    let scale = 1.0 / (geo.window.kernel * geo.window.kernel) as f32;
    for_plane_runs(output, out_len, input, in_len, |out, inp| {
        for (o, p) in out.chunks_exact_mut(out_len).zip(inp.chunks_exact(in_len)) {
            if geo.is_2x2_stride_2() {
                avg_plane_2x2(geo, p, o);
            } else {
                avg_plane(geo, p, o, scale);
            }
        }
    });
}

fn avg_plane(geo: &PlaneGeometry, plane: &[f32], out: &mut [f32], scale: f32) {
    let w = geo.in_w;
    for oh in 0..geo.out_h {
        let rows = geo.rows(oh);
        for ow in 0..geo.out_w {
            let cols = geo.cols(ow);
            let mut sum = 0.0f32;
            for h in rows.clone() {
                sum += plane[h * w + cols.start..h * w + cols.end]
                    .iter()
                    .sum::<f32>();
            }
            out[oh * geo.out_w + ow] = sum * scale;
        }
    }
}

fn avg_plane_2x2(geo: &PlaneGeometry, plane: &[f32], out: &mut [f32]) {
    let (w, out_w) = (geo.in_w, geo.out_w);
    let row_pairs = plane[..2 * geo.out_h * w].chunks_exact(2 * w);
    for (pair, out_row) in row_pairs.zip(out.chunks_exact_mut(out_w)) {
        let (top, bottom) = pair.split_at(w);
        let windows = top[..2 * out_w].chunks_exact(2).zip(bottom.chunks_exact(2));
        for (o, (t, b)) in out_row.iter_mut().zip(windows) {
            *o = ((t[0] + t[1]) + (b[0] + b[1])) * 0.25;
        }
    }
}

/// Average pooling backward: each output's gradient, divided by K², goes to every real input of its window.
pub(crate) fn avg_pool_backward(geo: &PlaneGeometry, grad_out: &[f32], grad_in: &mut [f32]) {
    let (in_len, out_len) = (geo.in_len(), geo.out_len());
    let scale = 1.0 / (geo.window.kernel * geo.window.kernel) as f32;
    let w = geo.in_w;
    for_plane_runs(grad_in, in_len, grad_out, out_len, |g_in, g_out| {
        for (gi, go) in g_in
            .chunks_exact_mut(in_len)
            .zip(g_out.chunks_exact(out_len))
        {
            for oh in 0..geo.out_h {
                let rows = geo.rows(oh);
                for ow in 0..geo.out_w {
                    let cols = geo.cols(ow);
                    let g = go[oh * geo.out_w + ow] * scale;
                    for h in rows.clone() {
                        for v in &mut gi[h * w + cols.start..h * w + cols.end] {
                            *v += g;
                        }
                    }
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Adaptive and global average pooling
// ---------------------------------------------------------------------------------------------

/// Adaptive average pooling forward: each output is the mean of its (row bin × column bin).
pub(crate) fn adaptive_avg_forward(geo: &AdaptiveGeometry, input: &[f32], output: &mut [f32]) {
    let (in_len, out_len, w) = (geo.in_len(), geo.out_len(), geo.in_w);
    for_plane_runs(output, out_len, input, in_len, |out, inp| {
        for (o, p) in out.chunks_exact_mut(out_len).zip(inp.chunks_exact(in_len)) {
            for (i, rows) in geo.row_bins.iter().enumerate() {
                for (j, cols) in geo.col_bins.iter().enumerate() {
                    let mut sum = 0.0f32;
                    for h in rows.clone() {
                        sum += p[h * w + cols.start..h * w + cols.end].iter().sum::<f32>();
                    }
                    o[i * geo.out_w + j] = sum / (rows.len() * cols.len()) as f32;
                }
            }
        }
    });
}

/// Adaptive average pooling backward: each output's gradient, divided by its bin's size, goes to the bin.
pub(crate) fn adaptive_avg_backward(geo: &AdaptiveGeometry, grad_out: &[f32], grad_in: &mut [f32]) {
    let (in_len, out_len, w) = (geo.in_len(), geo.out_len(), geo.in_w);
    for_plane_runs(grad_in, in_len, grad_out, out_len, |g_in, g_out| {
        for (gi, go) in g_in
            .chunks_exact_mut(in_len)
            .zip(g_out.chunks_exact(out_len))
        {
            for (i, rows) in geo.row_bins.iter().enumerate() {
                for (j, cols) in geo.col_bins.iter().enumerate() {
                    let g = go[i * geo.out_w + j] / (rows.len() * cols.len()) as f32;
                    for h in rows.clone() {
                        for v in &mut gi[h * w + cols.start..h * w + cols.end] {
                            *v += g;
                        }
                    }
                }
            }
        }
    });
}

/// Global average pooling forward: one mean per plane of `plane_len` values.
pub(crate) fn global_avg_forward(plane_len: usize, input: &[f32], output: &mut [f32]) {
    let scale = 1.0 / plane_len as f32;
    for_plane_runs(output, 1, input, plane_len, |out, inp| {
        for (o, p) in out.iter_mut().zip(inp.chunks_exact(plane_len)) {
            *o = p.iter().sum::<f32>() * scale;
        }
    });
}

/// Global average pooling backward: each plane gets its output's gradient divided by `plane_len`.
pub(crate) fn global_avg_backward(plane_len: usize, grad_out: &[f32], grad_in: &mut [f32]) {
    let scale = 1.0 / plane_len as f32;
    for_plane_runs(grad_in, plane_len, grad_out, 1, |g_in, g_out| {
        for (gi, &g) in g_in.chunks_exact_mut(plane_len).zip(g_out) {
            let g = g * scale;
            for v in gi {
                *v += g;
            }
        }
    });
}
