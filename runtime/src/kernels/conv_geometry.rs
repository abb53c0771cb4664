//! The geometry of one 2-D convolution over one image ([`ConvGeometry`]: sizes, checks, output
//! sizes) and the padding helpers the convolutions that read a padded image in place share.

use std::ops::Range;

use super::KernelError;

/// Sizes of one 2-D convolution over a single image: input `C × H × W`, square kernel `K`,
/// stride `S`, zero padding `P` on every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub(crate) channels: usize,
    pub(crate) height: usize,
    pub(crate) width: usize,
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) padding: usize,
}

impl ConvGeometry {
    /// Checks that the kernel fits inside the padded image and that kernel and stride are positive.
    ///
    /// ```
    /// use fasterai_runtime::kernels::ConvGeometry;
    /// let g = ConvGeometry::new(3, 28, 20, 3, 2, 1)?;
    /// assert_eq!((g.out_height(), g.out_width()), (14, 10));
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self, KernelError> {
        if kernel == 0 || stride == 0 {
            return Err(KernelError::ZeroKernelOrStride { kernel, stride });
        }
        let g = Self {
            channels,
            height,
            width,
            kernel,
            stride,
            padding,
        };
        if kernel > g.padded_height() || kernel > g.padded_width() {
            return Err(KernelError::KernelLargerThanImage {
                kernel,
                padded_height: g.padded_height(),
                padded_width: g.padded_width(),
            });
        }
        Ok(g)
    }

    /// Input channels `C`.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// Input height `H`.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Input width `W`.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Kernel side `K`.
    pub fn kernel(&self) -> usize {
        self.kernel
    }
    /// Stride `S`.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Zero padding `P` on each side.
    pub fn padding(&self) -> usize {
        self.padding
    }
    /// Height of the padded input, `H + 2P`.
    pub fn padded_height(&self) -> usize {
        self.height + 2 * self.padding
    }
    /// Width of the padded input, `W + 2P`: the row pitch of the convolutions that read a padded
    /// image in place.
    ///
    /// ```
    /// use fasterai_runtime::kernels::ConvGeometry;
    /// let g = ConvGeometry::new(3, 28, 20, 3, 2, 1)?;
    /// assert_eq!((g.padded_height(), g.padded_width()), (30, 22));
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn padded_width(&self) -> usize {
        self.width + 2 * self.padding
    }
    /// Output height `(H + 2P − K) / S + 1`.
    pub fn out_height(&self) -> usize {
        (self.padded_height() - self.kernel) / self.stride + 1
    }
    /// Output width `(W + 2P − K) / S + 1`.
    pub fn out_width(&self) -> usize {
        (self.padded_width() - self.kernel) / self.stride + 1
    }
    /// Output positions per channel, `OH·OW` (the column buffer's row length).
    pub fn out_len(&self) -> usize {
        self.out_height() * self.out_width()
    }
    /// Rows of the column buffer, `C·K·K` (the reduction length of the forward product).
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    /// Elements of the column buffer.
    pub fn col_len(&self) -> usize {
        self.col_rows() * self.out_len()
    }
    /// Elements of one input image, `C·H·W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
    /// True when the column buffer equals the image itself (1×1 kernel, stride 1, no padding),
    /// so callers can skip the unfolding.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Checks buffers for a block of output rows; returns the block's positions `rows.len()·OW`.
    pub(crate) fn check_rows(
        &self,
        image: usize,
        col: usize,
        rows: &Range<usize>,
    ) -> Result<usize, KernelError> {
        if rows.start > rows.end || rows.end > self.out_height() {
            return Err(KernelError::RowRange {
                start: rows.start,
                end: rows.end,
                out_height: self.out_height(),
            });
        }
        let block = rows.len() * self.out_width();
        if image != self.image_len() || col != self.col_rows() * block {
            return Err(KernelError::BufferLength {
                image,
                expected_image: self.image_len(),
                col,
                expected_col: self.col_rows() * block,
            });
        }
        Ok(block)
    }

    pub(crate) fn check_buffers(&self, image: usize, col: usize) -> Result<(), KernelError> {
        if image != self.image_len() || col != self.col_len() {
            return Err(KernelError::BufferLength {
                image,
                expected_image: self.image_len(),
                col,
                expected_col: self.col_len(),
            });
        }
        Ok(())
    }
}

/// `x` (`channels` planes of `h × w`) with `padding` rows and columns of `fill` before each plane's
/// rows and columns, and `fill` after them up to `ph × pw` per plane, into `dst` (resized). Shared by
/// the convolutions that read a padded image in place (fp32 direct, Winograd, int8).
pub(crate) fn pad_planes<T: Copy>(x: &[T], (h, w): (usize, usize), padding: usize, (ph, pw): (usize, usize), fill: T, dst: &mut Vec<T>) {
    let channels = x.len() / (h * w).max(1);
    dst.clear();
    dst.resize(channels * ph * pw, fill);
    for (plane, src) in dst.chunks_exact_mut(ph * pw).zip(x.chunks_exact(h * w)) {
        for (row, src) in plane[padding * pw..].chunks_exact_mut(pw).zip(src.chunks_exact(w)) {
            row[padding..padding + w].copy_from_slice(src);
        }
    }
}

/// Rows `rows` (in padded coordinates) of `x` padded as [`pad_planes`] pads it (`padding` rows and
/// columns of `fill` around each of its `channels` planes of `h × w`), written into `dst`, which is
/// grown to at least the whole padded image plus `slack` values; its other rows keep what they held. A
/// thread computing a band of output rows pads only the input rows the band reads.
pub(crate) fn pad_rows<T: Copy>(x: &[T], (h, w): (usize, usize), padding: usize, rows: Range<usize>, fill: T, slack: usize, dst: &mut Vec<T>) {
    let (hp, wp) = (h + 2 * padding, w + 2 * padding);
    let channels = x.len() / (h * w).max(1);
    if dst.len() < channels * hp * wp + slack {
        dst.resize(channels * hp * wp + slack, fill);
    }
    for (plane, src) in dst.chunks_exact_mut(hp * wp).zip(x.chunks_exact(h * w)) {
        pad_plane_rows(src, (h, w), padding, rows.clone(), fill, plane);
    }
}

/// Rows `rows` (in padded coordinates) of one plane `src` of `h × w`, padded by `padding` rows and
/// columns of `fill`, into `plane` (its `(h + 2·padding) × (w + 2·padding)` padded form).
pub(crate) fn pad_plane_rows<T: Copy>(src: &[T], (h, w): (usize, usize), padding: usize, rows: Range<usize>, fill: T, plane: &mut [T]) {
    let wp = w + 2 * padding;
    for py in rows {
        let row = &mut plane[py * wp..][..wp];
        if py < padding || py >= h + padding {
            row.fill(fill);
        } else {
            row[..padding].fill(fill);
            row[padding..padding + w].copy_from_slice(&src[(py - padding) * w..][..w]);
            row[padding + w..].fill(fill);
        }
    }
}

/// Offsets of `N` consecutive output positions from `first` (of which `n ≥ 1` are real) in a padded
/// input, stepping along the output rows of `out_width` positions: `at` is position `first`'s
/// offset, `column_step` the offset from one output column to the next, `row_step` from one row to
/// the next. One division per tile of positions instead of one per position; the slots past `n`
/// repeat the last. The direct convs' tiles (fp32 and int8) find their positions with it.
#[cfg(target_arch = "x86_64")]
pub(crate) fn step_positions<const N: usize>(first: usize, n: usize, out_width: usize, at: usize, (row_step, column_step): (usize, usize)) -> [usize; N] {
    let (mut column, mut at) = (first % out_width, at);
    let mut positions = [at; N];
    for slot in positions.iter_mut().take(n).skip(1) {
        column += 1;
        if column == out_width {
            column = 0;
            at += row_step - (out_width - 1) * column_step;
        } else {
            at += column_step;
        }
        *slot = at;
    }
    let last = positions[n - 1];
    positions[n..].fill(last);
    positions
}

/// The runs of `tiles` (numbered panel after panel, `per_panel` tiles each) that lie in one panel,
/// as `(panel, tiles of that panel)`: how the direct convs (fp32 and int8) walk a thread's share.
#[cfg(target_arch = "x86_64")]
pub(crate) fn panel_runs(tiles: Range<usize>, per_panel: usize) -> impl Iterator<Item = (usize, Range<usize>)> {
    let mut t = tiles.start;
    std::iter::from_fn(move || {
        if t >= tiles.end || per_panel == 0 {
            return None;
        }
        let panel = t / per_panel;
        let end = tiles.end.min((panel + 1) * per_panel);
        let run = (panel, t - panel * per_panel..end - panel * per_panel);
        t = end;
        Some(run)
    })
}
