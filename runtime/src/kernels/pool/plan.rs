//! Max pooling in the inference plans (`deploy/`), on `f32` maps (the fp32 plan) or `u8` maps (the int8 plan,
//! whose quantization is increasing, so the largest integer is the largest value).
//!
//! Two entry points over one per-plane loop: [`max_pool_rows`], a band of output rows (unpadded
//! windows; the band schedule pools each thread's rows straight after the convs that wrote them), and
//! [`max_pool_on_team`], whole maps with any window, groups of planes over the team when the map is
//! large. The 2×2 stride-2 unpadded window runs on [`max_pool_2x2`]'s SIMD kernels; other windows
//! on the separable rows of `separable.rs`, clipped to the map (padding never wins, as PyTorch pads
//! max pools with −∞). Windows are
//! checked by PyTorch's rules, with the same errors as the model's max pool.

use std::ops::Range;

use super::geometry::{PlaneGeometry, PoolWindow};
use super::slices;
use super::separable::SeparableValue;
use super::window_2x2::max_pool_2x2;
use crate::kernels::team::{for_each_chunk, Team};
use crate::kernels::{KernelError, OutPtr};

/// Maps of at least this many values are pooled by every thread of the team, a group of planes each.
const PARALLEL_VALUES: usize = 8 * 1024;

/// The operation the errors name.
const OP: &str = "max_pool2d";

/// The window's geometry on `planes` maps of `height × width`, with `x` and an output of `y_len`
/// values checked against it.
fn geometry<T>(x: &[T], y_len: usize, planes: usize, hw: (usize, usize), window: PoolWindow) -> Result<PlaneGeometry, KernelError> {
    slices::checked_geometry(OP, x.len(), y_len, planes, hw, window)
}

/// Output rows `rows` of one plane into `out` (those rows' values); `buf` is a row buffer.
pub(super) fn pool_plane<T: SeparableValue>(plane: &[T], geo: &PlaneGeometry, rows: Range<usize>, out: &mut [T], buf: &mut Vec<T>) {
    let w = geo.in_w;
    if geo.is_2x2_stride_2() {
        return max_pool_2x2(&plane[2 * rows.start * w..2 * rows.end * w], w, out);
    }
    T::max_pool_rows(plane, geo, rows, out, buf);
}

/// Max pooling of output rows `rows` of `planes` maps of `height × width` from `x` into `out` (the
/// whole output); other rows of `out` are not touched. A window that breaks PyTorch's rules, or
/// buffers of the wrong sizes, are errors.
///
/// # Safety
/// No other thread may reach rows `rows` of `out` while this runs.
pub(crate) unsafe fn max_pool_rows<T: SeparableValue>(
    x: &[T],
    planes: usize,
    hw: (usize, usize),
    window: PoolWindow,
    out: &OutPtr<'_, T>,
    rows: Range<usize>,
) -> Result<(), KernelError> {
    let geo = geometry(x, out.len(), planes, hw, window)?;
    assert!(rows.start <= rows.end && rows.end <= geo.out_h, "the band {rows:?} lies inside the output");
    if rows.is_empty() || geo.out_w == 0 {
        return Ok(());
    }
    // SAFETY: the caller keeps other threads off these rows.
    let mut view = unsafe { out.view(geo.out_len(), rows.start * geo.out_w..rows.end * geo.out_w) };
    let mut buf = Vec::new();
    for (plane, image) in x.chunks_exact(geo.in_len()).enumerate() {
        pool_plane(image, &geo, rows.clone(), view.channel(plane), &mut buf);
    }
    Ok(())
}

/// Max pooling of `planes` whole maps of `height × width` from `x` into `y`, groups of planes split
/// over the team from [`PARALLEL_VALUES`] input values on. Errors as [`max_pool_rows`].
pub(crate) fn max_pool_on_team<T: SeparableValue + Send + Sync>(x: &[T], planes: usize, hw: (usize, usize), window: PoolWindow, y: &mut [T]) -> Result<(), KernelError> {
    let geo = geometry(x, y.len(), planes, hw, window)?;
    if planes == 0 || geo.out_len() == 0 {
        return Ok(());
    }
    let per = planes.div_ceil(Team::global().threads()).max(1);
    for_each_chunk(y, per * geo.out_len(), x.len() >= PARALLEL_VALUES, |t, out| {
        let inputs = x[t * per * geo.in_len()..].chunks_exact(geo.in_len());
        let mut buf = Vec::new();
        for (image, out) in inputs.zip(out.chunks_exact_mut(geo.out_len())) {
            pool_plane(image, &geo, 0..geo.out_h, out, &mut buf);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    const WINDOWS: [PoolWindow; 5] = [
        PoolWindow { kernel: 2, stride: 2, padding: 0 },
        PoolWindow { kernel: 3, stride: 2, padding: 0 },
        PoolWindow { kernel: 3, stride: 1, padding: 0 },
        PoolWindow { kernel: 3, stride: 2, padding: 1 },
        PoolWindow { kernel: 2, stride: 1, padding: 1 },
    ];

    /// Whole maps (one thread and the team) and every split into two bands of rows give the model's
    /// kernel's result, on `f32` and on `u8` (compared as floats).
    #[test]
    fn every_split_equals_the_model_kernel() {
        let mut rng = SmallRng::seed_from_u64(9);
        for (planes, h, w) in [(3, 9, 7), (2, 14, 14), (1, 5, 11), (16, 24, 24)] {
            for window in WINDOWS {
                let (oh, ow) = (window.output_len(h).unwrap(), window.output_len(w).unwrap());
                let xf: Vec<f32> = (0..planes * h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let xq: Vec<u8> = (0..planes * h * w).map(|_| rng.gen()).collect();
                let mut want_f = vec![0.0; planes * oh * ow];
                slices::max_pool2d(&xf, planes, (h, w), window, &mut want_f).unwrap();
                let mut want_q = vec![0.0; planes * oh * ow];
                slices::max_pool2d(&xq.iter().map(|&q| q as f32).collect::<Vec<_>>(), planes, (h, w), window, &mut want_q).unwrap();
                let as_floats = |q: &[u8]| q.iter().map(|&v| v as f32).collect::<Vec<_>>();
                let (mut got_f, mut got_q) = (vec![f32::NAN; want_f.len()], vec![0u8; want_q.len()]);
                max_pool_on_team(&xf, planes, (h, w), window, &mut got_f).unwrap();
                max_pool_on_team(&xq, planes, (h, w), window, &mut got_q).unwrap();
                assert_eq!((&got_f, as_floats(&got_q)), (&want_f, want_q.clone()), "{planes}×{h}×{w} {window:?}, whole");
                for split in 0..=oh {
                    let (mut got_f, mut got_q) = (vec![f32::NAN; want_f.len()], vec![0u8; want_q.len()]);
                    for rows in [0..split, split..oh] {
                        // SAFETY: one thread, disjoint bands.
                        unsafe {
                            max_pool_rows(&xf, planes, (h, w), window, &OutPtr::new(&mut got_f), rows.clone()).unwrap();
                            max_pool_rows(&xq, planes, (h, w), window, &OutPtr::new(&mut got_q), rows).unwrap();
                        }
                    }
                    assert_eq!((&got_f, as_floats(&got_q)), (&want_f, want_q.clone()), "{planes}×{h}×{w} {window:?} split at {split}");
                }
            }
        }
    }

    #[test]
    fn bad_windows_and_buffers_are_errors() {
        let mut out = [0.0f32; 4];
        let too_large = PoolWindow { kernel: 5, stride: 1, padding: 0 };
        assert!(max_pool_on_team(&[0.0f32; 16], 1, (4, 4), too_large, &mut out).is_err());
        let wide_padding = PoolWindow { kernel: 2, stride: 2, padding: 2 };
        assert!(max_pool_on_team(&[0.0f32; 16], 1, (4, 4), wide_padding, &mut out).is_err());
        let window = PoolWindow { kernel: 2, stride: 2, padding: 0 };
        assert!(max_pool_on_team(&[0.0f32; 15], 1, (4, 4), window, &mut out).is_err(), "short input");
        assert!(max_pool_on_team(&[0u8; 16], 1, (4, 4), window, &mut [0u8; 3]).is_err(), "short output");
        // SAFETY: one thread.
        let band = unsafe { max_pool_rows(&[0.0f32; 16], 1, (4, 4), too_large, &OutPtr::new(&mut out), 0..0) };
        assert!(band.is_err());
    }
}
