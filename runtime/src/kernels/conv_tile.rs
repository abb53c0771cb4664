//! The operands of the direct fp32 conv's tile kernels, at the bottom of the floor: a block of depth
//! steps of one weight panel ([`MR`] output channels) against up to 32 wide positions read in place
//! from the padded image, stored through the rows' segments. The kernels themselves are
//! `generic_conv_f32_8x16` (in `generic/`), `avx2_conv_f32_8x16` and `avx512_conv_f32_8x32` (in
//! `x86_64/`), with the same order of additions per output; the driver is `conv_f32.rs`.

use crate::kernels::out_ptr::OutView;

/// Output channels per weight panel (rows of a tile).
pub(crate) const MR: usize = 8;

/// A tile kernel: one [`Tile`] into its rows of the output.
pub(crate) type ConvTileFn = fn(&Tile<'_>, &mut OutView<'_>);

/// A conv tile kernel and its width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvTile {
    /// `<isa>_conv_f32_<MR>x<columns>`.
    pub(crate) name: &'static str,
    /// Output positions per tile (at most [`MAX_SEGMENTS`]).
    pub(crate) columns: usize,
    /// The kernel.
    pub(crate) run: ConvTileFn,
}

/// Where the lanes of one column tile go: for each output row the tile touches, the lanes in that
/// row (a bit mask) and the output index of lane 0 if it were in that row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Segment {
    pub(crate) mask: u64,
    pub(crate) shift: isize,
}

/// Segments of a tile: each holds at least one of its at most 32 columns.
pub(crate) const MAX_SEGMENTS: usize = 32;

/// One tile's operands: a block of depth steps of a weight panel against `cols` wide positions
/// starting at `image[0]`.
pub(crate) struct Tile<'a> {
    /// The block's depth steps of the panel.
    pub(crate) panel: &'a [f32],
    pub(crate) bias: &'a [f32; MR],
    /// The padded image from the tile's first wide position on.
    pub(crate) image: &'a [f32],
    /// The block's depth steps' offsets.
    pub(crate) offsets: &'a [usize],
    pub(crate) cols: usize,
    pub(crate) segments: &'a [Segment],
    pub(crate) relu: bool,
    /// The block starts the sum (else it continues the partial sums stored in `out`).
    pub(crate) first: bool,
    /// The block ends the sum: add the bias, apply the ReLU.
    pub(crate) last: bool,
    /// The panel's first output channel.
    pub(crate) channel: usize,
    /// Valid output channels of the panel.
    pub(crate) rows: usize,
}

impl Tile<'_> {
    /// The value stored for accumulator `a` of row `r`: a partial sum, or the finished output.
    pub(crate) fn finish(&self, a: f32, r: usize) -> f32 {
        if !self.last {
            return a;
        }
        let v = a + self.bias[r];
        // ReLU keeping NaN, as the model's forward does (PyTorch's semantics).
        if self.relu && v <= 0.0 {
            0.0
        } else {
            v
        }
    }
}

/// Splits the wide positions `q0 .. q0 + cols` by output row; returns how many segments it wrote.
/// A segment's shift maps lane `l` to flat output position `shift + l`, counted from `origin`.
pub(crate) fn tile_segments(q0: usize, cols: usize, (wp, ow): (usize, usize), origin: usize, segments: &mut [Segment; MAX_SEGMENTS]) -> usize {
    let mut used = 0;
    for y in q0 / wp..=(q0 + cols - 1) / wp {
        let (start, end) = ((y * wp).max(q0), (y * wp + ow).min(q0 + cols));
        if start >= end {
            continue; // only junk positions of this row
        }
        let mask = (1u64 << (end - q0)) - (1u64 << (start - q0));
        segments[used] = Segment { mask, shift: q0 as isize - (y * (wp - ow)) as isize - origin as isize };
        used += 1;
    }
    used
}
