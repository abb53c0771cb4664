//! Packed operands of the int8 GEMM, in the panel order the tile kernels read them.
//!
//! Every packed word is an `i32` holding one *depth unit* of `k` for one row or column; two layouts:
//! - [`PanelLayout::Pairs16`]: two `k` values widened to `i16` (`v[2j]` in the low half), for
//!   `vpmaddwd` (AVX2, exact for any weights: [`super::x86_64::gemm_i8`]).
//! - [`PanelLayout::Quads8`]: four `k` values as bytes (`v[4j]` lowest), for `vpdpbusd` (AVX-VNNI,
//!   AVX-512 VNNI) and `vpmaddubsw` (AVX2, with weights split by [`super::pack_split`]).
//!
//! Weights `[m, k]` → panels of [`MR`] rows, word `[panel][unit][r]`, packed once per layer.
//! Activations `[k, n]` → panels of [`NR`] columns, word `[panel][unit][c]`, packed per call.
//! `k` is padded with zeros to a whole unit, and rows past `m` are zero. Columns past `n` in the
//! last activation panel are zero too; they only ever reach tile outputs that are discarded.

use super::team::for_each_chunk;

use super::generic::im2col_u8::{im2col_segment, ConvShape};
#[cfg(not(target_arch = "x86_64"))]
use super::generic::pack_i8::{generic_interleave_pairs_u8, generic_interleave_quads_u8};
use super::pack_tiles::{TiledWeightsI8, TILE_ROWS};
use crate::quant::{QuantError, QuantizedWeights};

pub use super::types::{MR, NR};

/// Row padding of [`PackedRowsI8`]: one AVX2 register of bytes.
pub const GEMV_ALIGN: usize = 32;

/// Activation panels packed together, one depth unit after the other.
const PANELS_PER_BLOCK: usize = 16;

/// Activation matrices smaller than this (4 Mi values) are packed on the calling thread.
pub(super) const PARALLEL_PACK: usize = 1 << 22;

/// How `k` is grouped into the `i32` words of a panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelLayout {
    /// Two values per word, each widened to `i16`.
    Pairs16,
    /// Four values per word, one byte each.
    Quads8,
}

impl PanelLayout {
    /// Values of `k` per word.
    pub fn unit(self) -> usize {
        match self {
            PanelLayout::Pairs16 => 2,
            PanelLayout::Quads8 => 4,
        }
    }

    /// The word holding `values` (`unit()` of them; missing ones are 0), each given as `i16`.
    #[inline]
    fn word(self, values: impl Iterator<Item = i16>) -> i32 {
        match self {
            PanelLayout::Pairs16 => values.take(2).enumerate().fold(0u32, |w, (i, v)| w | ((v as u16 as u32) << (16 * i))) as i32,
            PanelLayout::Quads8 => values.take(4).enumerate().fold(0u32, |w, (i, v)| w | ((v as u8 as u32) << (8 * i))) as i32,
        }
    }
}

/// `dst[i] = (e[i], o[i])` widened to `i16`: the [`PanelLayout::Pairs16`] word of one column (SSE2
/// on x86-64, else [`generic_interleave_pairs_u8`](super::generic::pack_i8::generic_interleave_pairs_u8)).
#[inline]
pub fn interleave_pairs(e: &[u8; NR], o: &[u8; NR], dst: &mut [i32; NR]) {
    #[cfg(target_arch = "x86_64")]
    return super::x86_64::interleave::sse2_interleave_pairs_u8(e, o, dst);
    #[cfg(not(target_arch = "x86_64"))]
    generic_interleave_pairs_u8(e, o, dst)
}

/// `dst[i] = bytes (a[i], b[i], c[i], d[i])`, lowest first: the [`PanelLayout::Quads8`] word of
/// one column (SSE2 on x86-64, else [`generic_interleave_quads_u8`](super::generic::pack_i8::generic_interleave_quads_u8)).
#[inline]
pub fn interleave_quads(a: &[u8; NR], b: &[u8; NR], c: &[u8; NR], d: &[u8; NR], dst: &mut [i32; NR]) {
    #[cfg(target_arch = "x86_64")]
    return super::x86_64::interleave::sse2_interleave_quads_u8(a, b, c, d, dst);
    #[cfg(not(target_arch = "x86_64"))]
    generic_interleave_quads_u8(a, b, c, d, dst)
}

/// Two `i16` in one `i32` word, `lo` in the low half (the [`PanelLayout::Pairs16`] word).
#[inline]
pub fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | ((hi as u16 as u32) << 16)) as i32
}

/// The two `i16` of a [`PanelLayout::Pairs16`] word.
#[inline]
pub fn unpair(word: i32) -> (i16, i16) {
    (word as i16, (word >> 16) as i16)
}

/// An int8 weight matrix `[m, k]` packed into panels of [`MR`] rows.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeightsI8 {
    data: Vec<i32>,
    rows: usize,
    depth: usize,
    layout: PanelLayout,
    /// Words per panel: `units · MR`, plus the split-off pairs of [`super::pack_split`] weights.
    panel_words: usize,
    /// Packed with unsafe pairs split off, for `vpmaddubsw` tiles ([`super::pack_split`]).
    split: bool,
    /// The same weights in tile order, for kernels that run on matrix tiles (AMX).
    tiles: Option<TiledWeightsI8>,
}

impl PackedWeightsI8 {
    /// Packs a row-major `[rows, depth]` matrix.
    pub fn new(values: &[i8], rows: usize, depth: usize, layout: PanelLayout) -> Result<Self, QuantError> {
        if values.len() != rows * depth {
            return Err(QuantError::LengthMismatch { what: "weight matrix", expected: rows * depth, found: values.len() });
        }
        let unit = layout.unit();
        let units = depth.div_ceil(unit);
        let mut data = vec![0i32; rows.div_ceil(MR) * units * MR];
        let at = |r: usize, k: usize| if r < rows && k < depth { values[r * depth + k] as i16 } else { 0 };
        for (p, panel) in data.chunks_exact_mut(units * MR).enumerate() {
            for (j, words) in panel.chunks_exact_mut(MR).enumerate() {
                for (i, w) in words.iter_mut().enumerate() {
                    *w = layout.word((0..unit).map(|u| at(p * MR + i, unit * j + u)));
                }
            }
        }
        Ok(Self { data, rows, depth, layout, panel_words: units * MR, split: false, tiles: None })
    }

    /// Split weights already in panel order: `data` holds `rows.div_ceil(MR)` panels of `panel_words`.
    pub(super) fn from_panels(data: Vec<i32>, rows: usize, depth: usize, layout: PanelLayout, panel_words: usize) -> Self {
        debug_assert_eq!(data.len(), rows.div_ceil(MR) * panel_words);
        Self { data, rows, depth, layout, panel_words, split: true, tiles: None }
    }

    /// [`Self::new`], plus a tile-order copy ([`TiledWeightsI8`]) for the AMX kernels.
    pub fn new_with_tiles(values: &[i8], rows: usize, depth: usize, layout: PanelLayout) -> Result<Self, QuantError> {
        let mut packed = Self::new(values, rows, depth, layout)?;
        packed.tiles = Some(TiledWeightsI8::new(values, rows, depth));
        Ok(packed)
    }

    /// The tile-order copy, when built by [`Self::new_with_tiles`].
    pub fn tiles(&self) -> Option<&TiledWeightsI8> {
        self.tiles.as_ref()
    }

    /// Packs the weights of a quantized layer (`out_channels × fan_in`).
    pub fn from_quantized(w: &QuantizedWeights, layout: PanelLayout) -> Result<Self, QuantError> {
        Self::new(&w.values, w.out_channels, w.fan_in, layout)
    }

    /// `m`: rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The word layout.
    pub fn layout(&self) -> PanelLayout {
        self.layout
    }

    /// Whether the panels carry split-off pairs after their words ([`super::pack_split`]): only
    /// kernels built for them read these weights right.
    pub fn is_split(&self) -> bool {
        self.split
    }

    /// Words per row of a panel: `k` in depth units.
    pub fn units(&self) -> usize {
        self.depth.div_ceil(self.layout.unit())
    }

    /// Panel `p` (rows `p·MR ..`): `units · MR` words (and, for split weights, their split-off
    /// pairs after them: [`super::pack_split`]).
    pub fn panel(&self, p: usize) -> &[i32] {
        let len = self.panel_words;
        &self.data[p * len..][..len]
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.rows.div_ceil(MR)
    }

    /// Bytes held (both copies when there is a tile-order one).
    pub fn bytes(&self) -> usize {
        self.data.len() * 4 + self.tiles.as_ref().map_or(0, TiledWeightsI8::bytes)
    }
}

/// A `u8` activation matrix `[k, n]` packed into panels of [`NR`] columns. Its buffer is reused
/// between calls.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedActivationsU8 {
    pub(super) data: Vec<i32>,
    depth: usize,
    cols: usize,
    pub(super) layout: PanelLayout,
    unit_multiple: usize,
}

impl PackedActivationsU8 {
    /// An empty buffer for operands of `layout`.
    pub fn new(layout: PanelLayout) -> Self {
        Self { data: Vec::new(), depth: 0, cols: 0, layout, unit_multiple: 1 }
    }

    /// An empty buffer whose panels hold a multiple of 16 depth units, as tile kernels (AMX) read
    /// them. The units past `k` meet zero weights; they may hold anything.
    pub fn new_for_tiles(layout: PanelLayout) -> Self {
        Self { unit_multiple: TILE_ROWS, ..Self::new(layout) }
    }

    /// Packs the row-major `[depth, cols]` matrix `x` (an im2col output); big ones in parallel.
    pub fn pack(&mut self, x: &[u8], depth: usize, cols: usize) -> Result<(), QuantError> {
        if x.len() != depth * cols {
            return Err(QuantError::LengthMismatch { what: "activation matrix", expected: depth * cols, found: x.len() });
        }
        self.pack_from(Source::Matrix(x), depth, cols);
        Ok(())
    }

    /// Packs the im2col patch matrix of the `[C, H, W]` image `x` without writing that matrix:
    /// each thread builds the few patch rows of one depth unit for its columns, then packs them.
    /// Equal to [`im2col_u8`](super::generic::im2col_u8::im2col_u8) followed by [`Self::pack`].
    pub fn pack_im2col(&mut self, x: &[u8], shape: ConvShape, zero_point: u8) -> Result<(), QuantError> {
        let len = shape.channels * shape.height * shape.width;
        if x.len() != len {
            return Err(QuantError::LengthMismatch { what: "conv input", expected: len, found: x.len() });
        }
        self.pack_from(Source::Im2col { x, shape, zero_point }, shape.depth(), shape.positions());
        Ok(())
    }

    /// Sizes the buffer for `depth × cols` and zeroes the tail panel's missing columns (every other
    /// word is written by the packing); returns the words per panel.
    pub(super) fn reset(&mut self, depth: usize, cols: usize) -> usize {
        self.depth = depth;
        self.cols = cols;
        let panel_len = self.units() * NR;
        let panels = cols.div_ceil(NR);
        self.data.resize(panels * panel_len, 0);
        if !cols.is_multiple_of(NR) {
            let tail = &mut self.data[(panels - 1) * panel_len..];
            tail.chunks_exact_mut(NR).for_each(|words| words[cols % NR..].fill(0));
        }
        panel_len
    }

    fn pack_from(&mut self, source: Source<'_>, depth: usize, cols: usize) {
        let (layout, unit) = (self.layout, self.layout.unit());
        let panel_len = self.reset(depth, cols);
        let units = self.units();
        if units == 0 {
            return;
        }
        // Panels `first ..` into `data`, one depth unit at a time: `unit` runs of patch rows over
        // the panels' columns, packed NR words per panel.
        let pack_panels = |first: usize, data: &mut [i32]| {
            let (c0, c1) = (first * NR, (first * NR + data.len() / units).min(cols));
            let width = c1 - c0;
            let mut built = match source {
                Source::Matrix(_) => Vec::new(),
                Source::Im2col { .. } => vec![0u8; unit * width],
            };
            for j in 0..units {
                let present = |u: usize| u < unit && unit * j + u < depth;
                if let Source::Im2col { x, shape, zero_point } = source {
                    for (u, run) in built.chunks_exact_mut(width).enumerate().filter(|&(u, _)| present(u)) {
                        im2col_segment(x, shape, zero_point, unit * j + u, c0, run);
                    }
                }
                let rows: [Option<&[u8]>; 4] = std::array::from_fn(|u| {
                    present(u).then(|| match source {
                        Source::Matrix(x) => &x[(unit * j + u) * cols + c0..(unit * j + u) * cols + c1],
                        Source::Im2col { .. } => &built[u * width..(u + 1) * width],
                    })
                });
                pack_unit(layout, rows, &mut data[j * NR..], panel_len);
            }
        };
        // Blocks of a few panels: a block's words are contiguous, so the writes of one depth unit
        // stay within a few pages instead of striding over every panel of a wide matrix.
        let block = PANELS_PER_BLOCK * panel_len;
        let len = self.panels() * panel_len;
        for_each_chunk(&mut self.data[..len], block, depth * cols >= PARALLEL_PACK, |b, data| pack_panels(b * PANELS_PER_BLOCK, data));
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// `n`: columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The word layout.
    pub fn layout(&self) -> PanelLayout {
        self.layout
    }

    /// Words per column of a panel: `k` in depth units, rounded up to [`Self::unit_multiple`].
    pub fn units(&self) -> usize {
        self.depth.div_ceil(self.layout.unit()).next_multiple_of(self.unit_multiple)
    }

    /// Panels hold a multiple of this many depth units: 1, or 16 for tile kernels, which read 16
    /// units at a time ([`Self::new_for_tiles`]).
    pub fn unit_multiple(&self) -> usize {
        self.unit_multiple
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.cols.div_ceil(NR)
    }

    /// Panel `p` (columns `p·NR ..`): `units · NR` words.
    pub fn panel(&self, p: usize) -> &[i32] {
        let len = self.units() * NR;
        &self.data[p * len..][..len]
    }
}

/// An int8 weight matrix `[m, k]` for matrix-vector products: row-major, each row padded with zeros
/// to a multiple of [`GEMV_ALIGN`]. The same for every kernel table.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedRowsI8 {
    data: Vec<i8>,
    rows: usize,
    depth: usize,
}

impl PackedRowsI8 {
    /// Pads a row-major `[rows, depth]` matrix.
    pub fn new(values: &[i8], rows: usize, depth: usize) -> Result<Self, QuantError> {
        if values.len() != rows * depth {
            return Err(QuantError::LengthMismatch { what: "weight matrix", expected: rows * depth, found: values.len() });
        }
        let stride = depth.div_ceil(GEMV_ALIGN) * GEMV_ALIGN;
        let mut data = vec![0i8; rows * stride];
        for (dst, src) in data.chunks_exact_mut(stride.max(1)).zip(values.chunks_exact(depth.max(1))) {
            dst[..depth].copy_from_slice(src);
        }
        Ok(Self { data, rows, depth })
    }

    /// `m`: rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Bytes per padded row.
    pub fn stride(&self) -> usize {
        self.depth.div_ceil(GEMV_ALIGN) * GEMV_ALIGN
    }

    /// The padded rows.
    pub fn data(&self) -> &[i8] {
        &self.data
    }
}

/// Where the activation rows come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A row-major `[depth, cols]` matrix.
    Matrix(&'a [u8]),
    /// The patch matrix of one image, built on the fly.
    Im2col { x: &'a [u8], shape: ConvShape, zero_point: u8 },
}

/// The kernel that packs the whole units of four full panels of a wide patch matrix at once, when
/// the CPU has one for `layout` (see [`super::x86_64::pack512::pack_quads_x4`]).
#[cfg(target_arch = "x86_64")]
pub(crate) type WideInterleave = unsafe fn(&[u8], &[usize], usize, [&mut [i32]; 4]);
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type WideInterleave = ();

pub(crate) fn wide_interleave(layout: PanelLayout) -> Option<WideInterleave> {
    #[cfg(target_arch = "x86_64")]
    if layout == PanelLayout::Quads8 && super::x86_64::pack512::available() {
        return Some(super::x86_64::pack512::pack_quads_x4);
    }
    let _ = layout;
    None
}

/// Four consecutive panels of `len` words.
#[cfg(target_arch = "x86_64")]
pub(crate) fn split4(group: &mut [i32], len: usize) -> [&mut [i32]; 4] {
    let (p0, rest) = group.split_at_mut(len);
    let (p1, rest) = rest.split_at_mut(len);
    let (p2, p3) = rest.split_at_mut(len);
    [p0, p1, p2, p3]
}

/// Columns of the wide patch matrix of a stride-1 conv: `(OH − 1)·(W + 2p) + OW`, output row `y`
/// starting at column `y·(W + 2p)`.
pub(crate) fn wide_columns(shape: ConvShape) -> usize {
    (shape.out_height() - 1) * (shape.width + 2 * shape.padding) + shape.out_width()
}

/// Where patch row `r` (channel `c`, kernel tap `(ki, kj)`) starts in the padded input: the input
/// of output position `(0, 0)` under that tap. Row `r` then runs contiguously over the wide columns.
#[inline]
pub(super) fn padded_row_start(shape: ConvShape, r: usize) -> usize {
    let (k, hp, wp) = (shape.kernel, shape.height + 2 * shape.padding, shape.width + 2 * shape.padding);
    let (c, ki, kj) = (r / (k * k), r / k % k, r % k);
    (c * hp + ki) * wp + kj
}

/// Packs one depth unit: `rows[u]` holds row `unit·j + u` over the panels' columns (`None` past
/// `depth`); `data` starts at that unit's words in the first panel.
pub(crate) fn pack_unit(layout: PanelLayout, rows: [Option<&[u8]>; 4], data: &mut [i32], panel_len: usize) {
    match (layout, rows) {
        (PanelLayout::Pairs16, [Some(r0), Some(r1), ..]) => {
            for (p, (e, o)) in r0.chunks(NR).zip(r1.chunks(NR)).enumerate() {
                let dst = &mut data[p * panel_len..][..e.len()];
                match (<&mut [i32; NR]>::try_from(&mut *dst), <&[u8; NR]>::try_from(e), <&[u8; NR]>::try_from(o)) {
                    (Ok(dst), Ok(e), Ok(o)) => interleave_pairs(e, o, dst),
                    _ => {
                        for ((w, &e), &o) in dst.iter_mut().zip(e).zip(o) {
                            *w = e as i32 | ((o as i32) << 16);
                        }
                    }
                }
            }
        }
        (PanelLayout::Quads8, [Some(r0), Some(r1), Some(r2), Some(r3)]) => {
            let quads = r0.chunks(NR).zip(r1.chunks(NR)).zip(r2.chunks(NR)).zip(r3.chunks(NR));
            for (p, (((a, b), c), d)) in quads.enumerate() {
                let dst = &mut data[p * panel_len..][..a.len()];
                if let (Ok(dst), Ok(a), Ok(b), Ok(c), Ok(d)) = (
                    <&mut [i32; NR]>::try_from(&mut *dst),
                    <&[u8; NR]>::try_from(a),
                    <&[u8; NR]>::try_from(b),
                    <&[u8; NR]>::try_from(c),
                    <&[u8; NR]>::try_from(d),
                ) {
                    interleave_quads(a, b, c, d, dst);
                } else {
                    for (i, w) in dst.iter_mut().enumerate() {
                        *w = i32::from_le_bytes([a[i], b[i], c[i], d[i]]);
                    }
                }
            }
        }
        // The last unit, with rows past `depth` read as 0.
        (_, rows) => {
            let len = rows[0].map_or(0, |r| r.len());
            for (p, c) in (0..len).step_by(NR).enumerate() {
                let width = NR.min(len - c);
                let dst = &mut data[p * panel_len..][..width];
                for (i, w) in dst.iter_mut().enumerate() {
                    *w = layout.word(rows.iter().map(|r| r.map_or(0, |r| r[c + i] as i16)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        for (a, b) in [(0, 0), (-127, 127), (255, -1), (-32768, 32767)] {
            assert_eq!(unpair(pair(a, b)), (a, b));
        }
    }

    #[test]
    fn weights_land_where_the_tiles_read_them() {
        // 7 × 3: two panels, k padded to 4.
        let w: Vec<i8> = (0..21).map(|i| i as i8 - 10).collect();
        let p = PackedWeightsI8::new(&w, 7, 3, PanelLayout::Pairs16).unwrap();
        assert_eq!((p.panels(), p.units()), (2, 2));
        assert_eq!(unpair(p.panel(0)[0]), (-10, -9)); // row 0, k 0-1
        assert_eq!(unpair(p.panel(0)[MR + 1]), (-5, 0)); // row 1, k 2 and padding
        assert_eq!(unpair(p.panel(1)[0]), (8, 9)); // row 6
        assert_eq!(unpair(p.panel(1)[1]), (0, 0)); // row 7 does not exist
        assert!(PackedWeightsI8::new(&w, 7, 4, PanelLayout::Pairs16).is_err());
    }

    #[test]
    fn activations_land_where_the_tiles_read_them() {
        // 3 × 17: two panels.
        let x: Vec<u8> = (0..51).map(|i| (i * 5) as u8).collect();
        let mut p = PackedActivationsU8::new(PanelLayout::Pairs16);
        p.pack(&x, 3, 17).unwrap();
        assert_eq!((p.panels(), p.units()), (2, 2));
        assert_eq!(unpair(p.panel(0)[1]), (5, 90)); // column 1: x[0][1], x[1][1]
        assert_eq!(unpair(p.panel(0)[NR + 2]), (180, 0)); // column 2, k 2 and padding
        assert_eq!(unpair(p.panel(1)[0]), (80, 165)); // column 16
        assert_eq!(unpair(p.panel(1)[1]), (0, 0));
    }

    #[test]
    fn simd_interleaves_equal_the_plain_ones() {
        let rows: [[u8; NR]; 4] = std::array::from_fn(|r| std::array::from_fn(|i| (r * 71 + i * 13) as u8 ^ 0x5a));
        let (mut fast, mut plain) = ([0; NR], [0; NR]);
        interleave_quads(&rows[0], &rows[1], &rows[2], &rows[3], &mut fast);
        crate::kernels::generic::pack_i8::generic_interleave_quads_u8(&rows[0], &rows[1], &rows[2], &rows[3], &mut plain);
        assert_eq!(fast, plain);
        interleave_pairs(&rows[0], &rows[1], &mut fast);
        crate::kernels::generic::pack_i8::generic_interleave_pairs_u8(&rows[0], &rows[1], &mut plain);
        assert_eq!(fast, plain);
    }

    #[test]
    fn fused_im2col_packing_equals_im2col_then_pack() {
        use crate::kernels::generic::im2col_u8::im2col_u8;
        for layout in [PanelLayout::Pairs16, PanelLayout::Quads8] {
            for (c, h, w, k, st, p) in [(3, 9, 11, 3, 1, 1), (2, 7, 5, 3, 2, 1), (1, 28, 28, 3, 1, 1), (5, 4, 4, 1, 1, 0), (2, 6, 9, 5, 3, 2)] {
                let s = ConvShape::new(c, h, w, k, st, p).unwrap();
                let x: Vec<u8> = (0..c * h * w).map(|i| (i * 37 % 251) as u8).collect();
                let mut cols = vec![0; s.depth() * s.positions()];
                im2col_u8(&x, s, 9, &mut cols).unwrap();
                let (mut want, mut got) = (PackedActivationsU8::new(layout), PackedActivationsU8::new(layout));
                want.pack(&cols, s.depth(), s.positions()).unwrap();
                got.pack_im2col(&x, s, 9).unwrap();
                assert_eq!(got, want, "{layout:?} {s:?}");
            }
        }
    }

    #[test]
    fn quads_hold_four_bytes_lowest_first() {
        let w: Vec<i8> = (0..14).map(|i| i as i8 - 7).collect(); // 2 × 7: k padded to 8
        let p = PackedWeightsI8::new(&w, 2, 7, PanelLayout::Quads8).unwrap();
        assert_eq!(p.units(), 2);
        assert_eq!(p.panel(0)[0].to_le_bytes().map(|b| b as i8), [-7, -6, -5, -4]);
        assert_eq!(p.panel(0)[MR + 1].to_le_bytes().map(|b| b as i8), [4, 5, 6, 0]);
        let x: Vec<u8> = (0..5 * 3).map(|i| i as u8 * 10).collect(); // 5 × 3
        let mut a = PackedActivationsU8::new(PanelLayout::Quads8);
        a.pack(&x, 5, 3).unwrap();
        assert_eq!(a.panel(0)[1].to_le_bytes(), [10, 40, 70, 100]); // column 1, k 0-3
        assert_eq!(a.panel(0)[NR + 2].to_le_bytes(), [140, 0, 0, 0]); // column 2, k 4 + padding
        assert_eq!(a.panel(0)[3], 0); // past the last column
    }
}
