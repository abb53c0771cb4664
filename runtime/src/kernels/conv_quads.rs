//! A stride-1 int8 conv without a patch matrix, for tile kernels (AMX): the input is laid out as
//! *channel quads* and each activation tile is read straight from it.
//!
//! Layout: quad `g` holds channels `4g .. 4g + 4` as one plane of `(H + 2p) × (W + 2p)` 4-byte
//! words (the four channels' bytes of one pixel side by side), borders holding the input zero
//! point. Order the depth as `(ky, kx, channel)`; then depth unit `g` of step `(ky, kx)` over the
//! wide positions `q = y·(W + 2p) + x` is 16 consecutive words of plane `g`, starting at word
//! `ky·(W + 2p) + kx + q`, and the 16 units of one tile (16 quads, 64 channels) lie one plane apart:
//! one `tileloadd` with the plane as stride. Copying the image into quads touches each input byte
//! once, where a packed patch matrix writes each one `K²` times.
//!
//! Used when the quads of a step fill at least half a tile and fit whole tiles: 29 to 64 channels,
//! or a multiple of 64.

use std::ops::Range;

use super::generic::im2col_u8::ConvShape;
use super::pack_i8::{interleave_quads, NR};
use super::pack_tiles::{TiledWeightsI8, TILE_DEPTH, TILE_ROWS};
use super::team::for_each_chunk;

/// Fewer quads than this leave most of each tile empty (a conv over 1 channel would run 9 tiles of
/// one used row per block where the packed path runs one): such convs pack their patch matrix.
const MIN_QUADS: usize = 8;

/// Quad buffers of at least this many bytes are filled by every thread of the team.
const PARALLEL_FILL_BYTES: usize = 16 * 1024;

/// Bytes read past the last plane by the last tiles of a row of columns (their junk lanes).
const SLACK: usize = 4 * (2 * NR + 2 * TILE_ROWS) + TILE_DEPTH;

/// Where a conv's activation tiles are: the geometry of its channel-quad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuadGeometry {
    shape: ConvShape,
    /// Quads of channels, `⌈C / 4⌉`.
    quads: usize,
    /// Tiles of 16 quads per kernel offset.
    groups: usize,
}

impl QuadGeometry {
    /// The layout of `shape`'s input, when its quads fit whole tiles (stride 1; at most 64 channels
    /// or a multiple of 64).
    pub(crate) fn new(shape: ConvShape) -> Option<Self> {
        let quads = shape.channels.div_ceil(4);
        (shape.stride == 1 && quads >= MIN_QUADS && (quads <= TILE_ROWS || quads.is_multiple_of(TILE_ROWS)))
            .then(|| Self { shape, quads, groups: quads.div_ceil(TILE_ROWS) })
    }

    /// The layout of `shape`'s input for kernels that read single quads rather than tiles
    /// ([`super::conv_u8_direct`]): any stride and channel count.
    pub(crate) fn planes(shape: ConvShape) -> Self {
        let quads = shape.channels.div_ceil(4);
        Self { shape, quads, groups: quads.div_ceil(TILE_ROWS) }
    }

    /// Quads of channels, `⌈C / 4⌉`.
    pub(crate) fn quads(&self) -> usize {
        self.quads
    }

    /// The padded input's width, `W + 2p`.
    pub(crate) fn padded_width(&self) -> usize {
        self.padded().1
    }

    /// The conv's input shape.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn shape(&self) -> ConvShape {
        self.shape
    }

    fn padded(&self) -> (usize, usize) {
        let s = &self.shape;
        (s.height + 2 * s.padding, s.width + 2 * s.padding)
    }

    /// Bytes from one quad's plane to the next (the stride of a tile's rows).
    pub(crate) fn plane(&self) -> usize {
        let (hp, wp) = self.padded();
        4 * hp * wp
    }

    /// Depth units (quads) per activation tile: all of them up to 16, else 16.
    pub(crate) fn tile_units(&self) -> usize {
        self.quads.min(TILE_ROWS)
    }

    /// Bytes of the buffer: the planes, plus slack.
    fn len(&self) -> usize {
        self.quads * self.plane() + SLACK
    }

    /// Byte offset of each depth step's first tile row from a column's word: step
    /// `(ky, kx, group)` in that order, as the weights of [`Self::weights`].
    pub(crate) fn steps(&self) -> Vec<usize> {
        let (k, (_, wp)) = (self.shape.kernel, self.padded());
        let mut steps = Vec::with_capacity(k * k * self.groups);
        for ky in 0..k {
            for kx in 0..k {
                for g in 0..self.groups {
                    steps.push(g * self.tile_units() * self.plane() + 4 * (ky * wp + kx));
                }
            }
        }
        steps
    }

    /// The conv's weights (`[O, C·K·K]`, channel-major as everywhere else) in the depth order of
    /// [`Self::steps`], one 64-value tile row per step.
    pub(crate) fn weights(&self, values: &[i8], rows: usize) -> TiledWeightsI8 {
        let (c, k) = (self.shape.channels, self.shape.kernel);
        let steps = k * k * self.groups;
        let mut ordered = vec![0i8; rows * steps * TILE_DEPTH];
        for (o, row) in values.chunks_exact(c * k * k).enumerate().take(rows) {
            let dst = &mut ordered[o * steps * TILE_DEPTH..][..steps * TILE_DEPTH];
            for ch in 0..c {
                for ky in 0..k {
                    for kx in 0..k {
                        let step = (ky * k + kx) * self.groups + ch / TILE_DEPTH;
                        dst[step * TILE_DEPTH + ch % TILE_DEPTH] = row[(ch * k + ky) * k + kx];
                    }
                }
            }
        }
        TiledWeightsI8::new(&ordered, rows, steps * TILE_DEPTH)
    }

    /// Lays out `x` (`[C, H, W]`) as padded channel quads in `dst`; borders and missing channels
    /// hold `zero_point`.
    pub(crate) fn fill(&self, x: &[u8], zero_point: u8, dst: &mut Vec<u8>) {
        let hp = self.padded().0;
        dst.resize(self.len(), 0);
        let plane_len = self.plane();
        // Planes in parallel once there is a few tens of KB to write (the conv reads them on every
        // thread anyway).
        let parallel = self.quads * plane_len >= PARALLEL_FILL_BYTES;
        let missing = vec![zero_point; self.shape.width];
        for_each_chunk(&mut dst[..self.quads * plane_len], plane_len, parallel, |g, plane| self.fill_plane(x, (zero_point, &missing), g, 0..hp, plane));
    }

    /// [`Self::fill`] of the padded rows `rows` only, on the calling thread: what a band of output
    /// rows `rows.start .. rows.end − K + 1` reads. The other rows of `dst` keep what they held.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn fill_rows(&self, x: &[u8], zero_point: u8, rows: Range<usize>, dst: &mut Vec<u8>) {
        assert!(rows.end <= self.padded().0, "the rows {rows:?} lie inside the padded image");
        if dst.len() < self.len() {
            dst.resize(self.len(), 0);
        }
        let (plane_len, missing) = (self.plane(), vec![zero_point; self.shape.width]);
        for (g, plane) in dst[..self.quads * plane_len].chunks_exact_mut(plane_len).enumerate() {
            self.fill_plane(x, (zero_point, &missing), g, rows.clone(), plane);
        }
    }

    /// Padded rows `rows` of quad `g`'s plane; `missing` is a row of `W` zero points, read for
    /// channels past the last.
    fn fill_plane(&self, x: &[u8], (zero_point, missing): (u8, &[u8]), g: usize, rows: Range<usize>, plane: &mut [u8]) {
        let s = &self.shape;
        let (h, w, p) = (s.height, s.width, s.padding);
        let wp = self.padded().1;
        let channel = |i: usize, y: usize| -> &[u8] {
            let ch = 4 * g + i;
            if ch < s.channels {
                &x[(ch * h + y) * w..][..w]
            } else {
                missing
            }
        };
        for py in rows {
            let row = &mut plane[4 * py * wp..][..4 * wp];
            if py < p || py >= h + p {
                row.fill(zero_point);
                continue;
            }
            row[..4 * p].fill(zero_point);
            row[4 * (p + w)..].fill(zero_point);
            let row = &mut row[4 * p..][..4 * w];
            let y = py - p;
            let (r0, r1, r2, r3) = (channel(0, y), channel(1, y), channel(2, y), channel(3, y));
            let mut words = [0i32; NR];
            let full = w / NR * NR;
            for (x0, dst) in (0..full).step_by(NR).zip(row.chunks_exact_mut(4 * NR)) {
                let run = |r: &[u8]| -> [u8; NR] { r[x0..x0 + NR].try_into().expect("NR bytes") };
                interleave_quads(&run(r0), &run(r1), &run(r2), &run(r3), &mut words);
                for (d, word) in dst.chunks_exact_mut(4).zip(&words) {
                    d.copy_from_slice(&word.to_le_bytes());
                }
            }
            for x in full..w {
                row[4 * x..][..4].copy_from_slice(&[r0[x], r1[x], r2[x], r3[x]]);
            }
        }
    }
}

/// A conv's weights for the channel-quad path, with the offsets of its depth steps.
#[derive(Debug, Clone, PartialEq)]
pub struct QuadConv {
    geometry: QuadGeometry,
    weights: TiledWeightsI8,
    steps: Vec<usize>,
}

impl QuadConv {
    /// The quad form of a conv of `shape` with row-major weights `[rows, C·K·K]`, when its
    /// channels fit whole tiles (see the module docs); `None` otherwise.
    pub(crate) fn new(shape: ConvShape, values: &[i8], rows: usize) -> Option<Self> {
        let geometry = QuadGeometry::new(shape)?;
        (values.len() == rows * shape.depth()).then(|| Self { weights: geometry.weights(values, rows), steps: geometry.steps(), geometry })
    }

    /// The input geometry.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn geometry(&self) -> &QuadGeometry {
        &self.geometry
    }

    /// The weights in tile order.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn weights(&self) -> &TiledWeightsI8 {
        &self.weights
    }

    /// Byte offsets of the depth steps (see [`QuadGeometry::steps`]).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn steps(&self) -> &[usize] {
        &self.steps
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.weights.bytes() + 8 * self.steps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(c: usize, h: usize, w: usize, k: usize, stride: usize, p: usize) -> ConvShape {
        ConvShape::new(c, h, w, k, stride, p).unwrap()
    }

    #[test]
    fn only_convs_whose_quads_fill_whole_tiles_qualify() {
        assert!(QuadGeometry::new(shape(32, 5, 5, 3, 1, 1)).is_some());
        assert!(QuadGeometry::new(shape(61, 5, 5, 3, 1, 1)).is_some()); // 16 quads, the last with one channel
        assert!(QuadGeometry::new(shape(192, 5, 5, 3, 1, 1)).is_some()); // 48 quads: 3 tiles
        assert!(QuadGeometry::new(shape(28, 5, 5, 3, 1, 1)).is_none()); // 7 quads: mostly empty tiles
        assert!(QuadGeometry::new(shape(100, 5, 5, 3, 1, 1)).is_none()); // 25 quads: no whole tiles
        assert!(QuadGeometry::new(shape(32, 6, 6, 3, 2, 1)).is_none()); // stride 2
    }

    #[test]
    fn the_input_lands_in_padded_channel_quads() {
        let s = shape(33, 2, 3, 3, 1, 1); // 9 quads, the last with one channel
        let g = QuadGeometry::new(s).unwrap();
        let x: Vec<u8> = (0..33 * 6).map(|i| (i % 200) as u8 + 1).collect();
        let mut dst = Vec::new();
        g.fill(&x, 7, &mut dst);
        assert_eq!(g.plane(), 4 * 4 * 5);
        let at = |quad: usize, y: usize, xx: usize, i: usize| dst[quad * g.plane() + 4 * (y * 5 + xx) + i];
        assert_eq!(at(0, 0, 0, 0), 7); // border
        assert_eq!(at(0, 1, 1, 0), x[0]); // channel 0, pixel (0, 0)
        assert_eq!(at(0, 1, 1, 3), x[3 * 6]); // channel 3
        assert_eq!(at(2, 2, 3, 1), x[9 * 6 + 5]); // channel 9, pixel (1, 2)
        assert_eq!(at(8, 1, 2, 0), x[32 * 6 + 1]); // channel 32
        assert_eq!(at(8, 1, 2, 1), 7); // channel 33 does not exist
        assert_eq!(at(8, 3, 4, 0), 7);
    }

    #[test]
    fn weights_follow_the_depth_steps() {
        let s = shape(32, 4, 4, 3, 1, 1);
        let g = QuadGeometry::new(s).unwrap();
        let values: Vec<i8> = (0..2 * 32 * 9).map(|i| (i % 120) as i8).collect();
        let w = g.weights(&values, 2);
        assert_eq!(w.chunks(), 9); // one step per kernel offset: 32 channels fit one tile row
        let steps = g.steps();
        assert_eq!(steps[4], 4 * (6 + 1)); // (ky, kx) = (1, 1): one padded row (6 pixels) and one pixel on
        // Output 1, channel 5, (ky, kx) = (2, 1): step 7, byte 5 of row 1 of the first row tile.
        assert_eq!(w.tile(0, 7)[TILE_DEPTH + 5], values[32 * 9 + (5 * 3 + 2) * 3 + 1]);
        assert_eq!(w.tile(0, 7)[TILE_DEPTH + 40], 0); // past the 32 channels
        assert_eq!(w.tile(0, 7)[2 * TILE_DEPTH], 0); // output 2 does not exist
    }
}
