//! Where each pooling window lies: output sizes, validation of kernel/stride/padding, adaptive bins.
//!
//! Everything here is plain integer arithmetic with no tensors, so the kernels and the reference
//! versions share one definition of "which input pixels feed output pixel (oh, ow)".

use std::ops::Range;

use crate::kernels::KernelError;

/// A square pooling window: `kernel × kernel` pixels, moved by `stride`, over an input padded by
/// `padding` pixels on every side (PyTorch's `kernel_size`, `stride`, `padding`, with `ceil_mode=False`
/// and no dilation).
///
/// ```
/// use fasterai_runtime::kernels::pool::PoolWindow;
/// let window = PoolWindow { kernel: 3, stride: 2, padding: 1 };
/// // floor((28 + 2·1 − 3) / 2) + 1 = 14
/// assert_eq!(window.output_len(28), Some(14));
/// assert_eq!(PoolWindow { kernel: 5, stride: 1, padding: 0 }.output_len(4), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolWindow {
    /// Side K of the K × K window.
    pub kernel: usize,
    /// Step between two windows, the same in both directions.
    pub stride: usize,
    /// Pixels added on each side: `-inf` for max pooling, `0` for average pooling.
    pub padding: usize,
}

impl PoolWindow {
    /// Number of window positions along an input of length `input`: `floor((input + 2P − K) / S) + 1`,
    /// or `None` when the window does not fit in the padded input, the kernel or stride is 0, or the
    /// padded length overflows `usize`.
    pub fn output_len(&self, input: usize) -> Option<usize> {
        let padded = self.padding.checked_mul(2)?.checked_add(input)?;
        if self.stride == 0 || self.kernel == 0 || padded < self.kernel {
            return None;
        }
        Some((padded - self.kernel) / self.stride + 1)
    }

    /// Checks the window against PyTorch's rules and an input of `height × width`, and returns where
    /// every window lies. `op` names the caller in the error.
    pub(crate) fn plane_geometry(
        &self,
        op: &'static str,
        height: usize,
        width: usize,
    ) -> Result<PlaneGeometry, KernelError> {
        if self.kernel == 0 {
            return Err(KernelError::PoolZeroParameter {
                op,
                what: "kernel size",
            });
        }
        if self.stride == 0 {
            return Err(KernelError::PoolZeroParameter { op, what: "stride" });
        }
        let max_padding = self.kernel / 2;
        if self.padding > max_padding {
            return Err(KernelError::PoolPaddingTooLarge {
                op,
                kernel: self.kernel,
                padding: self.padding,
                max_padding,
            });
        }
        if height == 0 || width == 0 {
            return Err(KernelError::PoolEmptyImage { op, height, width });
        }
        let too_large = || KernelError::PoolWindowTooLarge {
            op,
            kernel: self.kernel,
            padding: self.padding,
            height,
            width,
            padded_height: height.saturating_add(2 * self.padding),
            padded_width: width.saturating_add(2 * self.padding),
        };
        let out_h = self.output_len(height).ok_or_else(too_large)?;
        let out_w = self.output_len(width).ok_or_else(too_large)?;
        Ok(PlaneGeometry {
            in_h: height,
            in_w: width,
            out_h,
            out_w,
            window: *self,
        })
    }
}

/// A validated window over one `in_h × in_w` plane, giving an `out_h × out_w` plane.
///
/// Invariant (from `padding ≤ kernel / 2` and the output-size formula): every window holds at least one
/// real pixel, so [`PlaneGeometry::rows`] and [`PlaneGeometry::cols`] are never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlaneGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub window: PoolWindow,
}

impl PlaneGeometry {
    /// Pixels in one input plane.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w
    }

    /// Pixels in one output plane.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Input rows under output row `oh`, clipped to the image (padding rows dropped).
    pub fn rows(&self, oh: usize) -> Range<usize> {
        clipped_span(oh, self.window, self.in_h)
    }

    /// Input columns under output column `ow`, clipped to the image.
    pub fn cols(&self, ow: usize) -> Range<usize> {
        clipped_span(ow, self.window, self.in_w)
    }

    /// Whether this is the 2 × 2, stride 2, unpadded window that has its own fast loop.
    pub fn is_2x2_stride_2(&self) -> bool {
        self.window
            == PoolWindow {
                kernel: 2,
                stride: 2,
                padding: 0,
            }
    }
}

/// `[o·S − P, o·S − P + K)` intersected with `[0, len)`.
fn clipped_span(o: usize, window: PoolWindow, len: usize) -> Range<usize> {
    let start = o * window.stride;
    let end = start + window.kernel;
    start.saturating_sub(window.padding)..end.saturating_sub(window.padding).min(len)
}

/// Input span of adaptive bin `i` when `input` pixels are pooled into `output` bins, as PyTorch does:
/// `floor(i · input / output) .. ceil((i + 1) · input / output)`. Bins may overlap, and when
/// `output > input` several bins read the same pixel.
pub fn adaptive_bin(i: usize, input: usize, output: usize) -> Range<usize> {
    let start = i * input / output;
    let end = ((i + 1) * input).div_ceil(output);
    start..end
}

/// A validated adaptive pooling of `in_h × in_w` planes into `out_h × out_w` planes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdaptiveGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// `adaptive_bin(i, in_h, out_h)` for every output row.
    pub row_bins: Vec<Range<usize>>,
    /// `adaptive_bin(j, in_w, out_w)` for every output column.
    pub col_bins: Vec<Range<usize>>,
}

impl AdaptiveGeometry {
    /// Checks the sizes and precomputes the bins.
    pub fn new(
        op: &'static str,
        (in_h, in_w): (usize, usize),
        (out_h, out_w): (usize, usize),
    ) -> Result<Self, KernelError> {
        if out_h == 0 {
            return Err(KernelError::PoolZeroParameter {
                op,
                what: "output height",
            });
        }
        if out_w == 0 {
            return Err(KernelError::PoolZeroParameter {
                op,
                what: "output width",
            });
        }
        if in_h == 0 || in_w == 0 {
            return Err(KernelError::PoolEmptyImage {
                op,
                height: in_h,
                width: in_w,
            });
        }
        Ok(Self {
            in_h,
            in_w,
            out_h,
            out_w,
            row_bins: (0..out_h).map(|i| adaptive_bin(i, in_h, out_h)).collect(),
            col_bins: (0..out_w).map(|j| adaptive_bin(j, in_w, out_w)).collect(),
        })
    }

    /// Pixels in one input plane.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w
    }

    /// Pixels in one output plane.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w
    }
}
