//! The portable int8 GEMM: a triple loop on plain matrices, and the tile kernel on packed panels
//! that fills the generic slot of [`crate::kernels::int8::Int8Kernels`].

use crate::kernels::pack_i8::{unpair, MR, NR};
use crate::kernels::types::TileStage;
use crate::quant::requantize_one;

/// `c[m, n] = Σ_k a[m, k] · b[k, n]` on row-major `a: [m, k]` (i8) and `b: [k, n]` (u8), in `i32`.
///
/// ```
/// use fasterai_runtime::kernels::generic::gemm_i8::reference_gemm_u8i8;
/// let c = reference_gemm_u8i8(1, 2, 2, &[2, -3], &[10, 20, 1, 255]);
/// assert_eq!(c, vec![17, -725]);
/// ```
pub fn reference_gemm_u8i8(m: usize, n: usize, k: usize, a: &[i8], b: &[u8]) -> Vec<i32> {
    assert_eq!(a.len(), m * k, "a must be m × k");
    assert_eq!(b.len(), k * n, "b must be k × n");
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for p in 0..k {
            let w = a[i * k + p] as i32;
            for j in 0..n {
                c[i * n + j] += w * b[p * n + j] as i32;
            }
        }
    }
    c
}

/// One `MR × NR` tile of `i32` accumulators from a weight panel and an activation panel of `i16`
/// pairs ([`crate::kernels::pack_i8::PanelLayout::Pairs16`]).
pub fn generic_tile_i32_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    out.fill(0);
    for (aw, bw) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (r, &w) in aw.iter().enumerate() {
            let (w0, w1) = unpair(w);
            for (c, &x) in bw.iter().enumerate() {
                let (x0, x1) = unpair(x);
                out[r * NR + c] += w0 as i32 * x0 as i32 + w1 as i32 * x1 as i32;
            }
        }
    }
}

/// One tile, requantized to `u8` with the rows' output stage.
pub fn generic_tile_u8_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    let mut acc = [0i32; MR * NR];
    generic_tile_i32_6x16(a, b, &mut acc);
    for (r, channel) in stage.channels.iter().enumerate().take(MR) {
        for c in 0..NR {
            out[r * NR + c] = requantize_one(channel, stage.zero_point, stage.clamp_min, acc[r * NR + c]);
        }
    }
}

/// One `MR × NR` tile from panels of byte quads ([`crate::kernels::pack_i8::PanelLayout::Quads8`]).
pub fn generic_tile_i32_q4_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    out.fill(0);
    for (aw, bw) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (r, &w) in aw.iter().enumerate() {
            let w = w.to_le_bytes().map(|v| v as i8 as i32);
            for (c, &x) in bw.iter().enumerate() {
                let x = x.to_le_bytes().map(|v| v as i32);
                out[r * NR + c] += (0..4).map(|i| w[i] * x[i]).sum::<i32>();
            }
        }
    }
}

/// One quads tile, requantized to `u8` with the rows' output stage.
pub fn generic_tile_u8_q4_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    let mut acc = [0i32; MR * NR];
    generic_tile_i32_q4_6x16(a, b, &mut acc);
    for (r, channel) in stage.channels.iter().enumerate().take(MR) {
        for c in 0..NR {
            out[r * NR + c] = requantize_one(channel, stage.zero_point, stage.clamp_min, acc[r * NR + c]);
        }
    }
}

/// Two adjacent quads tiles from one weight panel: the portable twin of the `6 × 32` pair kernels,
/// `out[i]` the tile of activation panel `b_i`.
pub fn generic_pair_i32_q4_6x32(a: &[i32], b0: &[i32], b1: &[i32], out: &mut [[i32; MR * NR]; 2]) {
    let [left, right] = out;
    generic_tile_i32_q4_6x16(a, b0, left);
    generic_tile_i32_q4_6x16(a, b1, right);
}

/// Two adjacent quads tiles requantized to `u8` with the rows' output stage.
pub fn generic_pair_u8_q4_6x32(a: &[i32], b0: &[i32], b1: &[i32], stage: TileStage<'_>, out: &mut [[u8; MR * NR]; 2]) {
    let [left, right] = out;
    generic_tile_u8_q4_6x16(a, b0, stage, left);
    generic_tile_u8_q4_6x16(a, b1, stage, right);
}

/// `vpmaddubsw` on one pair: `x0·w0 + x1·w1` saturated to `i16`.
#[inline]
pub fn maddubs_pair(x: [u8; 2], w: [i8; 2]) -> i16 {
    (x[0] as i32 * w[0] as i32 + x[1] as i32 * w[1] as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// One word of `vpmaddubsw` then `vpmaddwd` with ones: the two saturated pair sums of a quad, added.
#[inline]
fn maddubs_quad(x: i32, w: i32) -> i32 {
    let (x, w) = (x.to_le_bytes(), w.to_le_bytes().map(|v| v as i8));
    maddubs_pair([x[0], x[1]], [w[0], w[1]]) as i32 + maddubs_pair([x[2], x[3]], [w[2], w[3]]) as i32
}

/// One `MR × NR` tile from split weights ([`crate::kernels::pack_split`]) and byte-quad
/// activations, pairs saturating as `vpmaddubsw` does: the kept words over the whole depth, then
/// the split-off words. The portable twin of the AVX2 `vpmaddubsw` tile.
pub fn generic_tile_i32_q4s_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    use crate::kernels::pack_split::entry_place;
    out.fill(0);
    let units = b.len() / NR;
    let (kept, split_off) = a.split_at(units * MR);
    for (aw, bw) in kept.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (r, &w) in aw.iter().enumerate() {
            for (c, &x) in bw.iter().enumerate() {
                out[r * NR + c] += maddubs_quad(x, w);
            }
        }
    }
    let count = split_off[0] as usize;
    for entry in split_off[1..1 + 2 * count].chunks_exact(2) {
        let (r, j) = entry_place(entry[0]);
        for (c, &x) in b[j * NR..][..NR].iter().enumerate() {
            out[r * NR + c] += maddubs_quad(x, entry[1]);
        }
    }
}

/// One split-weights tile, requantized to `u8` with the rows' output stage.
pub fn generic_tile_u8_q4s_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    let mut acc = [0i32; MR * NR];
    generic_tile_i32_q4s_6x16(a, b, &mut acc);
    for (r, channel) in stage.channels.iter().enumerate().take(MR) {
        for c in 0..NR {
            out[r * NR + c] = requantize_one(channel, stage.zero_point, stage.clamp_min, acc[r * NR + c]);
        }
    }
}
