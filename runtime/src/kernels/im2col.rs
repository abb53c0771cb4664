//! im2col / col2im for one NCHW image: unfold every receptive field into a column so a
//! convolution becomes one matrix product, and fold column gradients back (accumulating).
//!
//! The column buffer is `(C·K·K) × (OH·OW)` row-major: row `(c, ki, kj)` holds, for every output
//! position `(oh, ow)`, the input pixel `x[c, oh·S + ki − P, ow·S + kj − P]` (zero in the padding).
//! Output positions are the contiguous dimension, the large one in every product that uses it.

use std::ops::Range;

use super::conv_geometry::ConvGeometry;
use super::KernelError;

/// Output indices `o < out_len` whose input index `o·stride + offset` lies in `0..in_len`.
fn valid_outputs(out_len: usize, in_len: usize, offset: isize, stride: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        ((-offset + s - 1) / s) as usize
    };
    let room = in_len as isize - offset;
    let hi = if room <= 0 {
        0
    } else {
        ((room + s - 1) / s) as usize
    };
    let hi = hi.min(out_len);
    (lo.min(hi), hi)
}

/// For a stride-1 convolution whose output rows are as long as its input rows (`2P = K − 1`,
/// "same" padding), the column row of tap `(ki, kj)` over the block `rows` is the input plane
/// shifted by a constant: returns that shift (block index + shift = plane index).
fn same_shift(g: &ConvGeometry, rows: &Range<usize>, ki: usize, kj: usize) -> Option<isize> {
    if g.stride != 1 || g.out_width() != g.width {
        return None;
    }
    let (w, p) = (g.width as isize, g.padding as isize);
    Some(rows.start as isize * w + (ki as isize - p) * w + (kj as isize - p))
}

/// `plane[start..start + values.len()] += values`.
fn add_shifted(plane: &mut [f32], values: &[f32], start: isize) {
    let start = start as usize;
    for (d, &v) in plane[start..start + values.len()].iter_mut().zip(values) {
        *d += v;
    }
}

/// One kernel tap `(ki, kj)` over a block of output rows: the output rows `oh_lo..oh_hi` (within
/// the block) and columns `ow_lo..ow_hi` whose input pixel lies in the image, and the column
/// offset `kj − P` of that pixel.
#[derive(Clone, Copy)]
struct Tap {
    ki: usize,
    kj: usize,
    oh_lo: usize,
    oh_hi: usize,
    ow_lo: usize,
    ow_hi: usize,
    col_off: isize,
}

/// Runs `work(plane, row, tap)` for every image plane (of the input, or of its gradient) and every
/// kernel tap in column-buffer order, `row` being that tap's row of the column block `rows`.
fn each_tap<P, R>(
    g: &ConvGeometry,
    rows: &Range<usize>,
    planes: impl Iterator<Item = P>,
    mut col_rows: impl Iterator<Item = R>,
    mut work: impl FnMut(&mut P, R, &Tap),
) {
    let (h, w, k, s, p) = (g.height, g.width, g.kernel, g.stride, g.padding as isize);
    let ow_len = g.out_width();
    for mut plane in planes {
        for ki in 0..k {
            let (oh_lo, oh_hi) = valid_outputs(g.out_height(), h, ki as isize - p, s);
            let (oh_lo, oh_hi) = (
                oh_lo.clamp(rows.start, rows.end),
                oh_hi.clamp(rows.start, rows.end),
            );
            for kj in 0..k {
                let row = col_rows.next().expect("col has C·K·K rows (checked)");
                let col_off = kj as isize - p;
                let (ow_lo, ow_hi) = valid_outputs(ow_len, w, col_off, s);
                let tap = Tap { ki, kj, oh_lo, oh_hi, ow_lo, ow_hi, col_off };
                work(&mut plane, row, &tap);
            }
        }
    }
}

/// Unfolds one image `x` (`C × H × W`) into `col` (`C·K·K × OH·OW`, overwritten).
pub fn im2col(x: &[f32], g: &ConvGeometry, col: &mut [f32]) -> Result<(), KernelError> {
    im2col_rows(x, g, 0..g.out_height(), col)
}

/// [`im2col`] restricted to the output rows `rows`: `col` is `C·K·K × (rows.len()·OW)`, the
/// columns of those output positions only. Lets callers work on cache-sized blocks.
pub fn im2col_rows(
    x: &[f32],
    g: &ConvGeometry,
    rows: Range<usize>,
    col: &mut [f32],
) -> Result<(), KernelError> {
    let block = g.check_rows(x.len(), col.len(), &rows)?;
    if block == 0 {
        return Ok(());
    }
    let (w, s, p) = (g.width, g.stride, g.padding as isize);
    let ow_len = g.out_width();
    let planes = x.chunks_exact(g.height * w);
    each_tap(g, &rows, planes, col.chunks_exact_mut(block), |plane, row, tap| {
        let Tap { ki, kj, oh_lo, oh_hi, ow_lo, ow_hi, col_off } = *tap;
        row[..(oh_lo - rows.start) * ow_len].fill(0.0);
        row[(oh_hi - rows.start) * ow_len..].fill(0.0);
        if let Some(shift) = same_shift(g, &rows, ki, kj) {
            // Input and output rows have one length: the block is one shifted copy,
            // then the columns that wrapped around a row edge are zeroed.
            if oh_lo < oh_hi && ow_lo < ow_hi {
                let a = (oh_lo - rows.start) * ow_len + ow_lo;
                let b = (oh_hi - 1 - rows.start) * ow_len + ow_hi;
                let src = (a as isize + shift) as usize;
                row[a..b].copy_from_slice(&plane[src..src + (b - a)]);
            }
            for oh in oh_lo..oh_hi {
                let dst = &mut row[(oh - rows.start) * ow_len..][..ow_len];
                dst[..ow_lo].fill(0.0);
                dst[ow_hi.max(ow_lo)..].fill(0.0);
            }
            return;
        }
        for oh in oh_lo..oh_hi {
            let ih = (oh * s) as isize + ki as isize - p;
            let src = &plane[ih as usize * w..][..w];
            let dst = &mut row[(oh - rows.start) * ow_len..][..ow_len];
            dst[..ow_lo].fill(0.0);
            dst[ow_hi..].fill(0.0);
            if ow_lo < ow_hi {
                let first = ((ow_lo * s) as isize + col_off) as usize;
                if s == 1 {
                    dst[ow_lo..ow_hi].copy_from_slice(&src[first..first + (ow_hi - ow_lo)]);
                } else {
                    for (d, &v) in dst[ow_lo..ow_hi]
                        .iter_mut()
                        .zip(src[first..].iter().step_by(s))
                    {
                        *d = v;
                    }
                }
            }
        }
    });
    Ok(())
}

/// Folds `col` (`C·K·K × OH·OW`) back onto one image, adding into `x_grad` (`C × H × W`):
/// the adjoint of [`im2col`].
pub fn col2im(col: &[f32], g: &ConvGeometry, x_grad: &mut [f32]) -> Result<(), KernelError> {
    col2im_rows(col, g, 0..g.out_height(), x_grad)
}

/// [`col2im`] for the block of output rows `rows` (`col` is `C·K·K × (rows.len()·OW)`),
/// adding into `x_grad`: the adjoint of [`im2col_rows`].
pub fn col2im_rows(
    col: &[f32],
    g: &ConvGeometry,
    rows: Range<usize>,
    x_grad: &mut [f32],
) -> Result<(), KernelError> {
    let block = g.check_rows(x_grad.len(), col.len(), &rows)?;
    if block == 0 {
        return Ok(());
    }
    let (w, s, p) = (g.width, g.stride, g.padding as isize);
    let ow_len = g.out_width();
    let planes = x_grad.chunks_exact_mut(g.height * w);
    each_tap(g, &rows, planes, col.chunks_exact(block), |plane, row, tap| {
        let Tap { ki, kj, oh_lo, oh_hi, ow_lo, ow_hi, col_off } = *tap;
        if ow_lo >= ow_hi {
            return;
        }
        if let Some(shift) = same_shift(g, &rows, ki, kj) {
            // One shifted add per row run; the wrapped edge columns are skipped by
            // splitting at them (they are at most P wide on each side).
            if oh_lo < oh_hi {
                let a = (oh_lo - rows.start) * ow_len + ow_lo;
                let b = (oh_hi - 1 - rows.start) * ow_len + ow_hi;
                if ow_lo == 0 && ow_hi == ow_len {
                    add_shifted(&mut plane[..], &row[a..b], a as isize + shift);
                } else {
                    for oh in oh_lo..oh_hi {
                        let d = (oh - rows.start) * ow_len;
                        add_shifted(
                            &mut plane[..],
                            &row[d + ow_lo..d + ow_hi],
                            (d + ow_lo) as isize + shift,
                        );
                    }
                }
            }
            return;
        }
        let first = ((ow_lo * s) as isize + col_off) as usize;
        for oh in oh_lo..oh_hi {
            let ih = ((oh * s) as isize + ki as isize - p) as usize;
            let dst = &mut plane[ih * w..][..w];
            let src = &row[(oh - rows.start) * ow_len..][ow_lo..ow_hi];
            if s == 1 {
                for (d, &v) in dst[first..first + src.len()].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in dst[first..].iter_mut().step_by(s).zip(src) {
                    *d += v;
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::im2col_f32::{reference_col2im_f32, reference_im2col_f32};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn geometries() -> Vec<ConvGeometry> {
        let mut out = Vec::new();
        for &(c, h, w) in &[(1, 5, 7), (3, 8, 6), (2, 1, 9), (2, 11, 4)] {
            for k in [1, 2, 3, 5] {
                for s in [1, 2, 3] {
                    for p in [0, 1, 2] {
                        if let Ok(g) = ConvGeometry::new(c, h, w, k, s, p) {
                            out.push(g);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn im2col_matches_reference() {
        let mut rng = SmallRng::seed_from_u64(1);
        for g in geometries() {
            let x: Vec<f32> = (0..g.image_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let mut fast = vec![f32::NAN; g.col_len()];
            let mut slow = vec![f32::NAN; g.col_len()];
            im2col(&x, &g, &mut fast).unwrap();
            reference_im2col_f32(&x, &g, &mut slow).unwrap();
            assert_eq!(fast, slow, "{g:?}");
        }
    }

    #[test]
    fn col2im_matches_reference_and_accumulates() {
        let mut rng = SmallRng::seed_from_u64(2);
        for g in geometries() {
            let col: Vec<f32> = (0..g.col_len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let start: Vec<f32> = (0..g.image_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let mut fast = start.clone();
            let mut slow = start.clone();
            col2im(&col, &g, &mut fast).unwrap();
            reference_col2im_f32(&col, &g, &mut slow).unwrap();
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-5, "{g:?}: {a} vs {b}");
            }
        }
    }

    /// col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let mut rng = SmallRng::seed_from_u64(3);
        let g = ConvGeometry::new(2, 6, 5, 3, 2, 1).unwrap();
        let x: Vec<f32> = (0..g.image_len())
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let c: Vec<f32> = (0..g.col_len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut unfolded = vec![0.0; g.col_len()];
        im2col(&x, &g, &mut unfolded).unwrap();
        let mut folded = vec![0.0; g.image_len()];
        col2im(&c, &g, &mut folded).unwrap();
        let lhs: f64 = unfolded
            .iter()
            .zip(&c)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(&folded)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }

    /// Blocks of output rows reproduce the matching columns of the full unfolding, and folding
    /// every block adds up to folding the whole.
    #[test]
    fn row_blocks_match_the_whole() {
        let mut rng = SmallRng::seed_from_u64(4);
        for g in geometries() {
            let x: Vec<f32> = (0..g.image_len())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let mut whole = vec![0.0; g.col_len()];
            reference_im2col_f32(&x, &g, &mut whole).unwrap();
            let (oh, l) = (g.out_height(), g.out_len());
            let ow = g.out_width();
            let mut folded = vec![0.0; g.image_len()];
            let mut folded_ref = vec![0.0; g.image_len()];
            reference_col2im_f32(&whole, &g, &mut folded_ref).unwrap();
            let mut start = 0;
            while start < oh {
                let end = (start + 1 + start % 3).min(oh);
                let block = (end - start) * ow;
                let mut col = vec![f32::NAN; g.col_rows() * block];
                im2col_rows(&x, &g, start..end, &mut col).unwrap();
                for r in 0..g.col_rows() {
                    assert_eq!(
                        &col[r * block..][..block],
                        &whole[r * l + start * ow..][..block],
                        "{g:?} rows {start}..{end}"
                    );
                }
                col2im_rows(&col, &g, start..end, &mut folded).unwrap();
                start = end;
            }
            for (a, b) in folded.iter().zip(&folded_ref) {
                assert!((a - b).abs() < 1e-5, "{g:?}: {a} vs {b}");
            }
        }
        let g = ConvGeometry::new(1, 4, 4, 3, 1, 0).unwrap();
        assert!(matches!(
            im2col_rows(&[0.0; 16], &g, 1..3, &mut [0.0; 18]),
            Err(KernelError::RowRange {
                start: 1,
                end: 3,
                out_height: 2
            })
        ));
    }

    #[test]
    fn kernel_larger_than_padded_image_is_an_error() {
        assert!(matches!(
            ConvGeometry::new(1, 2, 9, 5, 1, 1),
            Err(KernelError::KernelLargerThanImage {
                kernel: 5,
                padded_height: 4,
                padded_width: 11
            })
        ));
        assert!(matches!(
            ConvGeometry::new(1, 9, 9, 3, 0, 0),
            Err(KernelError::ZeroKernelOrStride { .. })
        ));
    }

    #[test]
    fn wrong_buffer_lengths_are_an_error() {
        let g = ConvGeometry::new(1, 4, 4, 3, 1, 0).unwrap();
        let mut col = vec![0.0; g.col_len()];
        assert!(matches!(
            im2col(&[0.0; 15], &g, &mut col),
            Err(KernelError::BufferLength { .. })
        ));
    }
}
