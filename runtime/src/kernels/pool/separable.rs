//! Max pooling of any window as two passes (max is separable): the rows under each output row
//! folded into one row buffer, whole rows at a time (vectorised for the widest unit enabled), then
//! each output column's window of that row. Clipping happens once per output row and once per
//! border column, not per pixel. ResNet's 3×3 stride-2 padding-1 stem pool runs here.
//!
//! Every window holds at least one real pixel (checked by [`PoolWindow::plane_geometry`](super::PoolWindow)),
//! so the results are the generic per-window loop's: the same maximum of the same values (for `f32`,
//! NaN when any is NaN).

use std::ops::Range;

use super::geometry::PlaneGeometry;
use super::value::PoolValue;
use crate::kernels::widest::widest_fn;

/// Output rows `rows` of one `plane` into `out` (those rows' values); `buf` is a row buffer.
#[inline(always)]
fn pool_rows<T: SeparableValue>(plane: &[T], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [T], buf: &mut Vec<T>) {
    let (w, ow) = (geo.in_w, geo.out_w);
    let (k, s, p) = (geo.window.kernel, geo.window.stride, geo.window.padding);
    // Output columns whose window lies inside the row: `ow·s ≥ p` and `ow·s − p + k ≤ w`.
    let first = p.div_ceil(s).min(ow);
    let last = if w + p >= k { ((w + p - k) / s + 1).min(ow) } else { 0 }.max(first);
    for (oh, out_row) in rows.zip(out.chunks_exact_mut(ow)) {
        let in_rows = geo.rows(oh);
        buf.clear();
        buf.extend_from_slice(&plane[in_rows.start * w..][..w]);
        for r in in_rows.start + 1..in_rows.end {
            for (b, &v) in buf.iter_mut().zip(&plane[r * w..][..w]) {
                *b = b.larger(v);
            }
        }
        let row = &buf[..w];
        let window = |o: usize| {
            let cols = geo.cols(o);
            row[cols.start + 1..cols.end].iter().fold(row[cols.start], |m, &v| m.larger(v))
        };
        for o in (0..first).chain(last..ow) {
            out_row[o] = window(o);
        }
        let inner = &mut out_row[first..last];
        match (k, s) {
            (3, 2) => {
                let done = T::max3_stride2(row, 2 * first - p, inner);
                for (j, o) in inner.iter_mut().enumerate().skip(done) {
                    let at = 2 * (first + j) - p;
                    *o = row[at].larger(row[at + 1]).larger(row[at + 2]);
                }
            }
            (3, 1) => {
                for (j, o) in inner.iter_mut().enumerate() {
                    let at = first + j - p;
                    *o = row[at].larger(row[at + 1]).larger(row[at + 2]);
                }
            }
            _ => {
                for (j, o) in inner.iter_mut().enumerate() {
                    let at = (first + j) * s - p;
                    *o = row[at + 1..at + k].iter().fold(row[at], |m, &v| m.larger(v));
                }
            }
        }
    }
}

widest_fn! {
    /// [`pool_rows`] on `f32` planes.
    fn pool_rows_f32(plane: &[f32], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [f32], buf: &mut Vec<f32>) {
        pool_rows(plane, geo, rows, out, buf)
    }
}

widest_fn! {
    /// [`pool_rows`] on `u8` planes.
    fn pool_rows_u8(plane: &[u8], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [u8], buf: &mut Vec<u8>) {
        pool_rows(plane, geo, rows, out, buf)
    }
}

/// A value the separable pool runs on, with its compiled row loop.
pub(crate) trait SeparableValue: PoolValue {
    /// Output rows `rows` of `plane` into `out`, `buf` a row buffer the call may grow.
    fn max_pool_rows(plane: &[Self], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [Self], buf: &mut Vec<Self>);

    /// The leading outputs of a 3-wide stride-2 row pass on a SIMD kernel, `out[j]` the maximum of
    /// `row[start + 2j ..][..3]`; returns how many it wrote (none by default).
    #[inline(always)]
    fn max3_stride2(row: &[Self], start: usize, out: &mut [Self]) -> usize {
        let _ = (row, start, out);
        0
    }
}

impl SeparableValue for f32 {
    fn max_pool_rows(plane: &[f32], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [f32], buf: &mut Vec<f32>) {
        pool_rows_f32(plane, geo, rows, out, buf)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn max3_stride2(row: &[f32], start: usize, out: &mut [f32]) -> usize {
        crate::kernels::x86_64::pool_max3::max3_stride2_f32(row, start, out)
    }
}

impl SeparableValue for u8 {
    fn max_pool_rows(plane: &[u8], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [u8], buf: &mut Vec<u8>) {
        pool_rows_u8(plane, geo, rows, out, buf)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn max3_stride2(row: &[u8], start: usize, out: &mut [u8]) -> usize {
        crate::kernels::x86_64::pool_max3::max3_stride2_u8(row, start, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pool::PoolWindow;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// The generic per-window maximum.
    fn plain<T: PoolValue>(plane: &[T], geo: &PlaneGeometry) -> Vec<T> {
        let mut out = Vec::new();
        for oh in 0..geo.out_h {
            for ow in 0..geo.out_w {
                let (rows, cols) = (geo.rows(oh), geo.cols(ow));
                let mut best = plane[rows.start * geo.in_w + cols.start];
                for r in rows {
                    for &v in &plane[r * geo.in_w + cols.start..r * geo.in_w + cols.end] {
                        best = best.larger(v);
                    }
                }
                out.push(best);
            }
        }
        out
    }

    /// Every window shape on odd and even maps, whole and from every starting row, equals the
    /// per-window loop on `f32` and `u8`.
    #[test]
    fn rows_equal_the_per_window_maximum() {
        let mut rng = SmallRng::seed_from_u64(3);
        for (h, w) in [(1, 1), (2, 3), (5, 5), (7, 9), (8, 8), (13, 6), (112, 112), (17, 31)] {
            for kernel in 1..=4 {
                for stride in 1..=3 {
                    for padding in 0..=kernel / 2 {
                        let window = PoolWindow { kernel, stride, padding };
                        let Ok(geo) = window.plane_geometry("test", h, w) else { continue };
                        let xf: Vec<f32> = (0..h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
                        let xq: Vec<u8> = (0..h * w).map(|_| rng.gen()).collect();
                        let (want_f, want_q) = (plain(&xf, &geo), plain(&xq, &geo));
                        for start in [0, geo.out_h / 2, geo.out_h] {
                            let rows = start..geo.out_h;
                            let (mut got_f, mut got_q) = (vec![f32::NAN; rows.len() * geo.out_w], vec![0u8; rows.len() * geo.out_w]);
                            f32::max_pool_rows(&xf, &geo, rows.clone(), &mut got_f, &mut Vec::new());
                            u8::max_pool_rows(&xq, &geo, rows, &mut got_q, &mut Vec::new());
                            let from = start * geo.out_w;
                            assert_eq!(got_f, want_f[from..], "{h}×{w} {window:?} from row {start}");
                            assert_eq!(got_q, want_q[from..], "{h}×{w} {window:?} from row {start}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nan_wins_its_windows() {
        let geo = PoolWindow { kernel: 3, stride: 2, padding: 1 }.plane_geometry("test", 5, 5).unwrap();
        let mut x = vec![0.0f32; 25];
        x[12] = f32::NAN; // the centre pixel
        let mut out = vec![0.0; 9];
        f32::max_pool_rows(&x, &geo, 0..3, &mut out, &mut Vec::new());
        let nan: Vec<bool> = out.iter().map(|v| v.is_nan()).collect();
        let want: Vec<bool> = plain(&x, &geo).iter().map(|v| v.is_nan()).collect();
        assert_eq!(nan, want);
        assert!(nan[4]);
    }
}
