//! Max pooling of a band of output rows, on `f32` maps (the fp32 plan) or `u8` maps (the int8 plan,
//! whose quantization is increasing, so the largest integer is the largest value).
//!
//! The band schedule ([`super::bands`]) pools each thread's rows straight after the convs that wrote
//! them. The windows are unpadded, so every window holds values only: the loop needs no bounds and no
//! starting value. The common 2×2 stride-2 window runs on [`max_pool_2x2`]'s SIMD kernels.

use std::ops::Range;

use super::bands::RowMap;
use super::DeployError;
use crate::kernels::{max_pool_2x2, OutPtr, PoolValue};
use crate::ops::pool2d::{slices, PoolWindow};

/// Max pooling (an unpadded `window`) of output rows `rows` of `planes` maps of `height × width`
/// from `x` into `out` (the whole output); other rows of `out` are not touched. A window that does
/// not fit the map is an error.
///
/// # Safety
/// No other thread may reach rows `rows` of `out` while this runs.
pub(super) unsafe fn max_pool_rows<T: PoolValue>(
    x: &[T],
    planes: usize,
    (height, width): (usize, usize),
    window: PoolWindow,
    out: &OutPtr<'_, T>,
    rows: Range<usize>,
) -> Result<(), DeployError> {
    assert_eq!(window.padding, 0, "banded pooling windows are unpadded");
    let (Some(out_h), Some(out_w)) = (window.output_len(height), window.output_len(width)) else {
        // The whole-map kernel's checks name what is wrong with the window.
        slices::max_pool2d(&[], planes, (height, width), window, &mut [])?;
        unreachable!("a window with no output is an error");
    };
    assert!(x.len() == planes * height * width, "the input holds {planes} maps of {height}×{width}");
    assert!(rows.end <= out_h && out.len() == planes * out_h * out_w, "the band lies inside the output");
    if rows.is_empty() {
        return Ok(());
    }
    let reads = RowMap::Pool { kernel: window.kernel, stride: window.stride }.input_rows(rows.clone(), height);
    // SAFETY: the caller keeps other threads off these rows.
    let mut view = unsafe { out.view(out_h * out_w, rows.start * out_w..rows.end * out_w) };
    for (plane, image) in x.chunks_exact(height * width).enumerate() {
        // The band's input rows: `reads.len()` rows whose pooled rows are the band.
        let band = &image[reads.start * width..reads.end * width];
        let pooled = view.channel(plane);
        if (window.kernel, window.stride) == (2, 2) {
            max_pool_2x2(band, width, pooled);
            continue;
        }
        let (k, s) = (window.kernel, window.stride);
        for (r, out_row) in pooled.chunks_exact_mut(out_w).enumerate() {
            for (j, o) in out_row.iter_mut().enumerate() {
                let mut best = band[r * s * width + j * s];
                for ky in 0..k {
                    for &v in &band[(r * s + ky) * width + j * s..][..k] {
                        best = best.larger(v);
                    }
                }
                *o = best;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::int8::max_pool_u8;
    use crate::model::ShapeInfo;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    const WINDOWS: [PoolWindow; 3] = [
        PoolWindow { kernel: 2, stride: 2, padding: 0 },
        PoolWindow { kernel: 3, stride: 2, padding: 0 },
        PoolWindow { kernel: 3, stride: 1, padding: 0 },
    ];

    /// Every split of the output rows gives the whole-map kernels' result, on `f32` and on `u8`.
    #[test]
    fn bands_of_rows_equal_the_whole_map_kernels() {
        let mut rng = SmallRng::seed_from_u64(9);
        for (planes, h, w) in [(3, 9, 7), (2, 14, 14), (1, 5, 11)] {
            for window in WINDOWS {
                let (oh, ow) = (window.output_len(h).unwrap(), window.output_len(w).unwrap());
                let xf: Vec<f32> = (0..planes * h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let xq: Vec<u8> = (0..planes * h * w).map(|_| rng.gen()).collect();
                let mut want_f = vec![0.0; planes * oh * ow];
                slices::max_pool2d(&xf, planes, (h, w), window, &mut want_f).unwrap();
                let mut want_q = vec![0u8; planes * oh * ow];
                let shapes = (ShapeInfo::Chw { c: planes, h, w }, ShapeInfo::Chw { c: planes, h: oh, w: ow });
                max_pool_u8(&xq, shapes.0, shapes.1, window, &mut want_q);
                for split in 0..=oh {
                    let (mut got_f, mut got_q) = (vec![f32::NAN; want_f.len()], vec![0u8; want_q.len()]);
                    for rows in [0..split, split..oh] {
                        // SAFETY: one thread, disjoint bands.
                        unsafe {
                            max_pool_rows(&xf, planes, (h, w), window, &OutPtr::new(&mut got_f), rows.clone()).unwrap();
                            max_pool_rows(&xq, planes, (h, w), window, &OutPtr::new(&mut got_q), rows).unwrap();
                        }
                    }
                    assert_eq!(got_f, want_f, "{planes}×{h}×{w} {window:?} split at {split}");
                    assert_eq!(got_q, want_q, "{planes}×{h}×{w} {window:?} split at {split}");
                }
            }
        }
    }

    #[test]
    fn a_window_larger_than_the_map_is_an_error() {
        let window = PoolWindow { kernel: 5, stride: 1, padding: 0 };
        let mut out = [0.0f32; 0];
        // SAFETY: one thread.
        let result = unsafe { max_pool_rows(&[0.0f32; 16], 1, (4, 4), window, &OutPtr::new(&mut out), 0..0) };
        assert!(result.is_err());
    }
}
