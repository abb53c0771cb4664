//! Slice-level pooling for inference engines that keep activations in their own `Vec<f32>`s
//! (the int8 and accelerated plans): the same kernels as the tensor ops, without dfdx, without a tape
//! and without the copy the tensor ops need to read dfdx's storage.
//!
//! Buffers are contiguous NCHW: `planes = batch × channels` images of `height × width`, one after the
//! other. Each function checks the buffer lengths and the window, writes `output`, and returns the
//! output plane size.
//!
//! ```
//! use fasterai_runtime::kernels::pool::{slices, PoolWindow};
//!
//! let input: Vec<f32> = (0..2 * 4 * 4).map(|v| v as f32).collect(); // 2 planes of 4×4
//! let mut output = vec![0.0; 2 * 2 * 2];
//! let window = PoolWindow { kernel: 2, stride: 2, padding: 0 };
//! let (oh, ow) = slices::max_pool2d(&input, 2, (4, 4), window, &mut output)?;
//! assert_eq!((oh, ow), (2, 2));
//! assert_eq!(output, [5.0, 7.0, 13.0, 15.0, 21.0, 23.0, 29.0, 31.0]);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use super::loops as cpu_kernel;
use super::geometry::AdaptiveGeometry;
use super::geometry::{PlaneGeometry, PoolWindow};
use crate::kernels::KernelError;

/// Checks that `buffer` holds `planes` planes of `height × width`.
pub(crate) fn check_len(
    op: &'static str,
    buffer: &'static str,
    found: usize,
    planes: usize,
    (height, width): (usize, usize),
) -> Result<(), KernelError> {
    let expected = planes
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width));
    if expected == Some(found) {
        return Ok(());
    }
    Err(KernelError::PoolBufferLength {
        op,
        buffer,
        planes,
        height,
        width,
        expected: expected.unwrap_or(usize::MAX),
        found,
    })
}

/// The window's geometry on `planes` maps of `height × width`, with an input of `input_len` and an
/// output of `output_len` values checked against it (errors name `op`).
pub(crate) fn checked_geometry(
    op: &'static str,
    input_len: usize,
    output_len: usize,
    planes: usize,
    (height, width): (usize, usize),
    window: PoolWindow,
) -> Result<PlaneGeometry, KernelError> {
    let geo = window.plane_geometry(op, height, width)?;
    check_len(op, "input", input_len, planes, (height, width))?;
    check_len(op, "output", output_len, planes, (geo.out_h, geo.out_w))?;
    Ok(geo)
}

/// Max pooling of `planes` images of `height × width` from `input` into `output`
/// (`planes × out_h × out_w`); returns `(out_h, out_w)`. Same semantics as
/// the tape op `ops::pool2d::try_max_pool2d`.
pub fn max_pool2d(
    input: &[f32],
    planes: usize,
    (height, width): (usize, usize),
    window: PoolWindow,
    output: &mut [f32],
) -> Result<(usize, usize), KernelError> {
    let geo = checked_geometry("max_pool2d", input.len(), output.len(), planes, (height, width), window)?;
    cpu_kernel::max_pool_forward(&geo, input, output, None);
    Ok((geo.out_h, geo.out_w))
}

/// Average pooling (`count_include_pad=True`), as [`max_pool2d`] otherwise. Same semantics as
/// the tape op `ops::pool2d::try_avg_pool2d`.
pub fn avg_pool2d(
    input: &[f32],
    planes: usize,
    (height, width): (usize, usize),
    window: PoolWindow,
    output: &mut [f32],
) -> Result<(usize, usize), KernelError> {
    let geo = checked_geometry("avg_pool2d", input.len(), output.len(), planes, (height, width), window)?;
    cpu_kernel::avg_pool_forward(&geo, input, output);
    Ok((geo.out_h, geo.out_w))
}

/// Adaptive average pooling into `out_h × out_w` bins per plane, PyTorch's bin rule (see
/// the tape op `ops::pool2d::try_adaptive_avg_pool2d`).
pub fn adaptive_avg_pool2d(
    input: &[f32],
    planes: usize,
    (height, width): (usize, usize),
    (out_h, out_w): (usize, usize),
    output: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "adaptive_avg_pool2d";
    let geo = AdaptiveGeometry::new(OP, (height, width), (out_h, out_w))?;
    check_len(OP, "input", input.len(), planes, (height, width))?;
    check_len(OP, "output", output.len(), planes, (out_h, out_w))?;
    cpu_kernel::adaptive_avg_forward(&geo, input, output);
    Ok(())
}

/// Global average pooling: `output[p]` is the mean of plane `p`.
pub fn global_avg_pool2d(
    input: &[f32],
    planes: usize,
    (height, width): (usize, usize),
    output: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "global_avg_pool2d";
    if height == 0 || width == 0 {
        return Err(KernelError::PoolEmptyImage {
            op: OP,
            height,
            width,
        });
    }
    check_len(OP, "input", input.len(), planes, (height, width))?;
    check_len(OP, "output", output.len(), planes, (1, 1))?;
    cpu_kernel::global_avg_forward(height * width, input, output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use crate::kernels::generic::pool_f32 as reference;
    use super::*;

    #[test]
    fn slice_kernels_match_the_references() {
        let mut rng = SmallRng::seed_from_u64(30);
        let (planes, height, width) = (21, 9, 7);
        let input: Vec<f32> = (0..planes * height * width)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let window = PoolWindow {
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let mut out = vec![0.0; planes * 5 * 4];
        assert_eq!(
            max_pool2d(&input, planes, (height, width), window, &mut out).unwrap(),
            (5, 4)
        );
        assert_eq!(
            out,
            reference::max_pool2d(&input, (height, width), window).0
        );
        avg_pool2d(&input, planes, (height, width), window, &mut out).unwrap();
        let want = reference::avg_pool2d(&input, (height, width), window);
        assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
        let mut out = vec![0.0; planes * 12];
        adaptive_avg_pool2d(&input, planes, (height, width), (3, 4), &mut out).unwrap();
        let want = reference::adaptive_avg_pool2d(&input, (height, width), (3, 4));
        assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
        let mut out = vec![0.0; planes];
        global_avg_pool2d(&input, planes, (height, width), &mut out).unwrap();
        let want = reference::global_avg_pool2d(&input, height * width);
        assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn wrong_buffer_lengths_are_errors() {
        let window = PoolWindow {
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        let err = max_pool2d(&[0.0; 15], 1, (4, 4), window, &mut [0.0; 4]).unwrap_err();
        assert!(
            matches!(
                err,
                KernelError::PoolBufferLength {
                    buffer: "input",
                    expected: 16,
                    found: 15,
                    ..
                }
            ),
            "{err}"
        );
        let err = avg_pool2d(&[0.0; 16], 1, (4, 4), window, &mut [0.0; 5]).unwrap_err();
        assert!(
            matches!(
                err,
                KernelError::PoolBufferLength {
                    buffer: "output",
                    expected: 4,
                    found: 5,
                    ..
                }
            ),
            "{err}"
        );
    }
}
