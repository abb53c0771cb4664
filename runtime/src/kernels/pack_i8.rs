//! Packed operands of the int8 GEMM: both sides widened to `i16` and stored as `k`-pairs, in the
//! panel order the tile kernels read them.
//!
//! A `u8 × i8` product is computed with `vpmaddwd` on `i16` pairs (see [`super::x86_64::gemm_i8`]
//! for why not `vpmaddubsw`). One `i32` word of a packed operand holds the pair
//! `(v[2j], v[2j+1])` as two `i16`, low half first; `k` is padded to even with zeros.
//! - Weights `[m, k]` → panels of [`MR`] rows: word `[panel][j][r]`. Packed once per layer.
//! - Activations `[k, n]` → panels of [`NR`] columns: word `[panel][j][c]`. Packed per call.
//!
//! Rows and columns past the end are zero, so a tile never reads outside its panel.

use rayon::prelude::*;

use crate::quant::{QuantError, QuantizedWeights};

/// Rows of a weight panel (and of a tile).
pub const MR: usize = 6;
/// Columns of an activation panel (and of a tile): two AVX2 registers of `i32`.
pub const NR: usize = 16;

/// Two `i16` in one `i32` word, `lo` in the low half.
#[inline]
pub fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | ((hi as u16 as u32) << 16)) as i32
}

/// The two `i16` of a packed word.
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
}

impl PackedWeightsI8 {
    /// Packs a row-major `[rows, depth]` matrix.
    pub fn new(values: &[i8], rows: usize, depth: usize) -> Result<Self, QuantError> {
        if values.len() != rows * depth {
            return Err(QuantError::LengthMismatch { what: "weight matrix", expected: rows * depth, found: values.len() });
        }
        let pairs = depth.div_ceil(2);
        let panels = rows.div_ceil(MR);
        let mut data = vec![0i32; panels * pairs * MR];
        let at = |r: usize, k: usize| if r < rows && k < depth { values[r * depth + k] as i16 } else { 0 };
        for (p, panel) in data.chunks_exact_mut(pairs * MR).enumerate() {
            for (j, words) in panel.chunks_exact_mut(MR).enumerate() {
                for (i, w) in words.iter_mut().enumerate() {
                    *w = pair(at(p * MR + i, 2 * j), at(p * MR + i, 2 * j + 1));
                }
            }
        }
        Ok(Self { data, rows, depth })
    }

    /// Packs the weights of a quantized layer (`out_channels × fan_in`).
    pub fn from_quantized(w: &QuantizedWeights) -> Result<Self, QuantError> {
        Self::new(&w.values, w.out_channels, w.fan_in)
    }

    /// `m`: rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Number of `k`-pairs.
    pub fn pairs(&self) -> usize {
        self.depth.div_ceil(2)
    }

    /// Panel `p` (rows `p·MR ..`): `pairs · MR` words.
    pub fn panel(&self, p: usize) -> &[i32] {
        let len = self.pairs() * MR;
        &self.data[p * len..][..len]
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.rows.div_ceil(MR)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

/// A `u8` activation matrix `[k, n]` packed into panels of [`NR`] columns. Its buffer is reused
/// between calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackedActivationsU8 {
    data: Vec<i32>,
    depth: usize,
    cols: usize,
}

impl PackedActivationsU8 {
    /// Packs the row-major `[depth, cols]` matrix `x` (an im2col output), in parallel over panels.
    pub fn pack(&mut self, x: &[u8], depth: usize, cols: usize) -> Result<(), QuantError> {
        if x.len() != depth * cols {
            return Err(QuantError::LengthMismatch { what: "activation matrix", expected: depth * cols, found: x.len() });
        }
        let pairs = depth.div_ceil(2);
        self.depth = depth;
        self.cols = cols;
        self.data.clear();
        self.data.resize(cols.div_ceil(NR) * pairs * NR, 0);
        if pairs == 0 {
            return Ok(());
        }
        self.data.par_chunks_mut(pairs * NR).enumerate().for_each(|(p, panel)| {
            let c0 = p * NR;
            let width = NR.min(cols - c0);
            for (j, words) in panel.chunks_exact_mut(NR).enumerate() {
                let even = &x[2 * j * cols + c0..][..width];
                if 2 * j + 1 < depth {
                    let odd = &x[(2 * j + 1) * cols + c0..][..width];
                    for ((w, &e), &o) in words.iter_mut().zip(even).zip(odd) {
                        *w = e as i32 | ((o as i32) << 16);
                    }
                } else {
                    for (w, &e) in words.iter_mut().zip(even) {
                        *w = e as i32;
                    }
                }
            }
        });
        Ok(())
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// `n`: columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of `k`-pairs.
    pub fn pairs(&self) -> usize {
        self.depth.div_ceil(2)
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.cols.div_ceil(NR)
    }

    /// Panel `p` (columns `p·NR ..`): `pairs · NR` words.
    pub fn panel(&self, p: usize) -> &[i32] {
        let len = self.pairs() * NR;
        &self.data[p * len..][..len]
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
        let p = PackedWeightsI8::new(&w, 7, 3).unwrap();
        assert_eq!((p.panels(), p.pairs()), (2, 2));
        assert_eq!(unpair(p.panel(0)[0]), (-10, -9)); // row 0, k 0-1
        assert_eq!(unpair(p.panel(0)[MR + 1]), (-5, 0)); // row 1, k 2 and padding
        assert_eq!(unpair(p.panel(1)[0]), (8, 9)); // row 6
        assert_eq!(unpair(p.panel(1)[1]), (0, 0)); // row 7 does not exist
        assert!(PackedWeightsI8::new(&w, 7, 4).is_err());
    }

    #[test]
    fn activations_land_where_the_tiles_read_them() {
        // 3 × 17: two panels.
        let x: Vec<u8> = (0..51).map(|i| (i * 5) as u8).collect();
        let mut p = PackedActivationsU8::default();
        p.pack(&x, 3, 17).unwrap();
        assert_eq!((p.panels(), p.pairs()), (2, 2));
        assert_eq!(unpair(p.panel(0)[1]), (5, 90)); // column 1: x[0][1], x[1][1]
        assert_eq!(unpair(p.panel(0)[NR + 2]), (180, 0)); // column 2, k 2 and padding
        assert_eq!(unpair(p.panel(1)[0]), (80, 165)); // column 16
        assert_eq!(unpair(p.panel(1)[1]), (0, 0));
    }
}
