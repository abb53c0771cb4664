//! Weights for the byte-quad tiles of CPUs without VNNI, which multiply with `vpmaddubsw`: each
//! `u8 × i8` pair of products is summed into an `i16` **with saturation**, then pairs into `i32`.
//!
//! ## Why the result stays exact
//! A weight pair `(w0, w1)` meets activations `x0, x1 ∈ [0, 255]`; `x0·w0 + x1·w1` lies in
//! `[255·(w0⁻ + w1⁻), 255·(w0⁺ + w1⁺)]` (`⁺`/`⁻` the positive/negative parts). It fits `i16` for
//! every input iff `w0⁺ + w1⁺ ≤ 128` and `w0⁻ + w1⁻ ≥ −128` ([`pair_is_exact`]): every pair of
//! opposite signs, and same-sign pairs up to 128 in sum. Pairs beyond are *split* at packing
//! ([`split_pair`]): `w = s + r` with `s = clamp(w, −64, 64)`, so both `(s0, s1)` and the split-off
//! `(r0, r1)` (each in `[−64, 63]`) are exact pairs. The tile sums the kept weights over the whole
//! depth, then adds the split-off words (few for bell-shaped trained weights: 2–6 % of row-units
//! for normal ones). When they are many (uniform random weights put 43 % of row-units past the
//! bound), extra words would cost more than they save, and [`pack_split`] returns `None` beyond
//! [`DENSE_SPLITS`]: the caller packs the exact `i16`-pair layout instead. No weight matrix is
//! ever run with a pair that could saturate.
//!
//! ## Panel format (words of `i32`)
//! `units · MR` kept words as [`PanelLayout::Quads8`], then the count `n` of split-off words, then
//! `n` entries `[row << 24 | unit, word]` sorted by row then unit, then zeros up to the widest
//! panel of the matrix.

use super::pack_i8::{PackedWeightsI8, PanelLayout, MR};
use crate::quant::QuantError;

/// Weights are packed split only while split-off words are at most one per this many row-units
/// (one row's four depth values): beyond it the `i16`-pair tiles are faster. Measured in CPU
/// time (`benches/int8.rs -- --loop`, `benches/inference.rs -- --plan-cpu`): with normal weights
/// VGG16's convs of fan-in ≥ 2304 (about 2 % of row-units split) gain, SmallVgg's of fan-in 288
/// and 576 (6 % and 4 %) do not; uniform weights split in full (43 %) run about 1.2× slower
/// than on the pairs.
pub const DENSE_SPLITS: usize = 32;

/// Whether `x0·w0 + x1·w1` fits `i16` for all `x0, x1 ∈ [0, 255]`, so `vpmaddubsw` cannot saturate.
///
/// ```
/// use fasterai_runtime::kernels::pack_split::pair_is_exact;
/// assert!(pair_is_exact(127, -127) && pair_is_exact(64, 64) && pair_is_exact(-64, -64));
/// assert!(!pair_is_exact(127, 2) && !pair_is_exact(-65, -64));
/// ```
pub fn pair_is_exact(w0: i8, w1: i8) -> bool {
    let pos = w0.max(0) as i32 + w1.max(0) as i32;
    let neg = w0.min(0) as i32 + w1.min(0) as i32;
    255 * pos <= i16::MAX as i32 && 255 * neg >= i16::MIN as i32
}

/// `(kept, split_off)` with `kept + split_off = (w0, w1)`, both exact pairs; `split_off` is zero
/// when the pair is exact already.
pub fn split_pair(w0: i8, w1: i8) -> ([i8; 2], [i8; 2]) {
    if pair_is_exact(w0, w1) {
        return ([w0, w1], [0, 0]);
    }
    let kept = [w0.clamp(-64, 64), w1.clamp(-64, 64)];
    // `w − clamp(w, −64, 64)` lies in [−64, 63] for every i8.
    (kept, [(w0 as i16 - kept[0] as i16) as i8, (w1 as i16 - kept[1] as i16) as i8])
}

/// The split-off entry's first word: the row within the panel and the depth unit.
#[inline]
pub fn entry_key(row: usize, unit: usize) -> i32 {
    debug_assert!(row < MR && unit < 1 << 24);
    ((row << 24) | unit) as i32
}

/// Row and unit of an entry key.
#[inline]
pub fn entry_place(key: i32) -> (usize, usize) {
    ((key as u32 >> 24) as usize, (key as u32 & 0xFF_FFFF) as usize)
}

/// Packs a row-major `[rows, depth]` matrix as byte quads with unsafe pairs split off (see the
/// [module docs](self)), or `None` when the split-off words would be more than one per
/// [`DENSE_SPLITS`] row-units.
pub fn pack_split(values: &[i8], rows: usize, depth: usize) -> Result<Option<PackedWeightsI8>, QuantError> {
    if values.len() != rows * depth {
        return Err(QuantError::LengthMismatch { what: "weight matrix", expected: rows * depth, found: values.len() });
    }
    let units = depth.div_ceil(4);
    let at = |r: usize, k: usize| if r < rows && k < depth { values[r * depth + k] } else { 0 };
    let panels = rows.div_ceil(MR);
    // Per panel: kept words, then split-off entries.
    let mut kept = vec![0i32; panels * units * MR];
    let mut entries: Vec<Vec<[i32; 2]>> = vec![Vec::new(); panels];
    for p in 0..panels {
        for j in 0..units {
            for i in 0..MR {
                let (r, k) = (p * MR + i, 4 * j);
                let (lo, lo_off) = split_pair(at(r, k), at(r, k + 1));
                let (hi, hi_off) = split_pair(at(r, k + 2), at(r, k + 3));
                kept[(p * units + j) * MR + i] = quad(lo, hi);
                if lo_off != [0, 0] || hi_off != [0, 0] {
                    entries[p].push([entry_key(i, j), quad(lo_off, hi_off)]);
                }
            }
        }
    }
    // By row (the key's high bits), then unit: the tiles sum each row's entries in registers.
    entries.iter_mut().for_each(|list| list.sort_unstable_by_key(|e| e[0]));
    let total: usize = entries.iter().map(Vec::len).sum();
    if total * DENSE_SPLITS > rows * units {
        return Ok(None);
    }
    let widest = entries.iter().map(Vec::len).max().unwrap_or(0);
    let panel_words = units * MR + 1 + 2 * widest;
    let mut data = vec![0i32; panels * panel_words];
    for (p, (panel, list)) in data.chunks_exact_mut(panel_words.max(1)).zip(&entries).enumerate() {
        panel[..units * MR].copy_from_slice(&kept[p * units * MR..][..units * MR]);
        panel[units * MR] = list.len() as i32;
        for (dst, e) in panel[units * MR + 1..].chunks_exact_mut(2).zip(list) {
            dst.copy_from_slice(e);
        }
    }
    Ok(Some(PackedWeightsI8::from_panels(data, rows, depth, PanelLayout::Quads8, panel_words)))
}

/// The byte-quad word of two pairs, lowest byte first.
fn quad(lo: [i8; 2], hi: [i8; 2]) -> i32 {
    i32::from_le_bytes([lo[0] as u8, lo[1] as u8, hi[0] as u8, hi[1] as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of `i8` (−128 included): the parts add up, and both are exact for every input.
    #[test]
    fn every_pair_splits_into_two_exact_pairs() {
        for w0 in i8::MIN..=i8::MAX {
            for w1 in i8::MIN..=i8::MAX {
                let (kept, off) = split_pair(w0, w1);
                assert_eq!([kept[0] as i16 + off[0] as i16, kept[1] as i16 + off[1] as i16], [w0 as i16, w1 as i16]);
                assert!(pair_is_exact(kept[0], kept[1]) && pair_is_exact(off[0], off[1]), "{w0} {w1}");
                // The bound is tight: at the extreme inputs an inexact pair leaves i16.
                let worst = [(255, 255), (255, 0), (0, 255)]
                    .iter()
                    .map(|&(x0, x1)| x0 * w0 as i32 + x1 * w1 as i32)
                    .any(|v| v > i16::MAX as i32 || v < i16::MIN as i32);
                assert_eq!(pair_is_exact(w0, w1), !worst, "{w0} {w1}");
            }
        }
    }

    #[test]
    fn entries_hold_the_split_off_pairs_and_dense_splits_are_refused() {
        // 2 × 160 (80 row-units). Row 0: one unsafe pair (100, 100) at k 4-5; row 1: opposite
        // signs only.
        let mut w = vec![1i8; 2 * 160];
        w[4..6].copy_from_slice(&[100, 100]);
        w[160..164].copy_from_slice(&[127, -127, -127, 127]);
        let p = pack_split(&w, 2, 160).unwrap().expect("one split-off word in 80 row-units");
        let (panel, units) = (p.panel(0), 40);
        assert_eq!(panel.len(), units * MR + 1 + 2);
        assert_eq!(panel[MR].to_le_bytes().map(|b| b as i8), [64, 64, 1, 1]); // unit 1, row 0: kept
        assert_eq!(panel[units * MR], 1);
        assert_eq!(entry_place(panel[units * MR + 1]), (0, 1));
        assert_eq!(panel[units * MR + 2].to_le_bytes().map(|b| b as i8), [36, 36, 0, 0]);
        // Two split-off words in 80 row-units are within one per 32, still split; a third is too
        // many: the caller falls back.
        w[160 + 40..160 + 42].copy_from_slice(&[-90, -90]);
        assert!(pack_split(&w, 2, 160).unwrap().is_some_and(|p| p.is_split()));
        w[160 + 80..160 + 82].copy_from_slice(&[70, 70]);
        assert!(pack_split(&w, 2, 160).unwrap().is_none(), "3 split-off words in 80 row-units");
        assert!(pack_split(&w, 2, 159).is_err());
    }
}
