//! AVX2 int8 tile kernels, `6 × 16`, on operands packed as `i16` pairs ([`crate::kernels::pack_i8`]).
//!
//! ## `vpmaddwd` on widened values: exact for any weights
//! `vpmaddubsw` multiplies `u8 × i8` and adds adjacent pairs into an `i16` **with saturation**:
//! with activations in `[0, 255]` and weights in `[−127, 127]` a pair reaches `2·255·127 = 64 770`,
//! beyond `i16::MAX`, and the result is silently wrong (e.g. `255·127 + 255·127` gives 32 767).
//! Here both operands are widened to `i16` once, at packing, and `vpmaddwd` (`i16 × i16`, pairs
//! summed into `i32`, no saturation possible for these ranges) does 16 multiply-adds per
//! instruction, exact over the full `u8 × [−127, 127]` range.
//!
//! The AVX2 table runs `vpmaddubsw` on byte quads instead ([`super::gemm_i8_maddubs`]), its weights
//! split so that no pair can saturate ([`crate::kernels::pack_split`]); these tiles are its fallback
//! for weight matrices with too many unsafe pairs (uniform random ones), and the whole AVX2 table before it.
//!
//! Per `k`-pair the tile loads two registers of activations (16 columns), broadcasts one weight
//! pair per row (6 rows) and issues 12 `vpmaddwd` + 12 `vpaddd` into 12 accumulators.

use std::arch::x86_64::*;

use super::requantize::requantize8;
use crate::kernels::isa::Isa;
use crate::kernels::types::TileStage;
use crate::kernels::types::{MR, NR};

/// Whether the tables may use the kernels of this module ([`Isa::Avx2`] enabled).
pub fn available() -> bool {
    Isa::Avx2.enabled()
}

/// The 12 accumulators of a tile: row × two registers of 8 columns.
pub(super) type Acc = [[__m256i; 2]; MR];

/// The 12 accumulators of one tile.
#[target_feature(enable = "avx2,fma")]
fn accumulate(a: &[i32], b: &[i32]) -> Acc {
    let mut acc: Acc = [[_mm256_setzero_si256(); 2]; MR];
    for (aw, bw) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let aw: &[i32; MR] = aw.try_into().expect("chunks_exact gives MR words");
        // SAFETY: `bw` holds NR = 16 i32, i.e. two unaligned 256-bit loads at offsets 0 and 8.
        let (b0, b1) = unsafe {
            (_mm256_loadu_si256(bw.as_ptr().cast()), _mm256_loadu_si256(bw.as_ptr().add(8).cast()))
        };
        for (row, &w) in acc.iter_mut().zip(aw) {
            let w = _mm256_set1_epi32(w);
            row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(b0, w));
            row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(b1, w));
        }
    }
    acc
}

#[target_feature(enable = "avx2,fma")]
fn tile_i32(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    store_i32(&accumulate(a, b), out);
}

#[target_feature(enable = "avx2,fma")]
fn tile_u8(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    let acc = accumulate(a, b);
    store_u8(&acc, stage, out);
}

/// Requantizes the tile's rows and stores them as bytes.
#[target_feature(enable = "avx2,fma")]
pub(super) fn store_u8(acc: &Acc, stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    for ((row, channel), dst) in acc.iter().zip(stage.channels).zip(out.chunks_exact_mut(NR)) {
        let v0 = requantize8(row[0], channel, stage.zero_point, stage.clamp_min);
        let v1 = requantize8(row[1], channel, stage.zero_point, stage.clamp_min);
        // Values are in [0, 255]: the saturating packs are exact. packs_epi32 interleaves the
        // 128-bit halves; the permute restores column order before the final pack to bytes.
        let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(v0, v1));
        let bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256::<1>(words));
        // SAFETY: `dst` holds NR = 16 bytes: one unaligned 128-bit store.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
    }
}

/// Stores the tile's accumulators.
#[target_feature(enable = "avx2,fma")]
pub(super) fn store_i32(acc: &Acc, out: &mut [i32; MR * NR]) {
    for (row, dst) in acc.iter().zip(out.chunks_exact_mut(NR)) {
        // SAFETY: `dst` holds NR = 16 i32: two unaligned 256-bit stores at offsets 0 and 8.
        unsafe {
            _mm256_storeu_si256(dst.as_mut_ptr().cast(), row[0]);
            _mm256_storeu_si256(dst.as_mut_ptr().add(8).cast(), row[1]);
        }
    }
}

/// `6 × 16` tile of `i32` accumulators.
///
/// # Panics
/// If the CPU lacks AVX2/FMA: the table only holds this kernel after detecting them.
pub fn avx2_tile_i32_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::Avx2.on_cpu(), "avx2_tile_i32_6x16 needs AVX2 and FMA");
    // SAFETY: AVX2 and FMA are present (checked just above).
    unsafe { tile_i32(a, b, out) }
}

/// `6 × 16` tile requantized to `u8`.
///
/// # Panics
/// If the CPU lacks AVX2/FMA: the table only holds this kernel after detecting them.
pub fn avx2_tile_u8_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::Avx2.on_cpu(), "avx2_tile_u8_6x16 needs AVX2 and FMA");
    // SAFETY: AVX2 and FMA are present (checked just above).
    unsafe { tile_u8(a, b, stage, out) }
}

/// `vpmaddubsw` on a pair at the extremes saturates: the reason this module widens to `i16`.
#[cfg(test)]
mod tests {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    fn maddubs_first_lane(x: u8, w: i8) -> i16 {
        let r = _mm256_maddubs_epi16(_mm256_set1_epi8(x as i8), _mm256_set1_epi8(w));
        _mm256_extract_epi16::<0>(r) as i16
    }

    #[test]
    fn maddubs_saturates_at_the_extremes_but_the_widened_tile_does_not() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX2/FMA");
            return;
        }
        // SAFETY: AVX2 and FMA were detected above.
        assert_eq!(unsafe { maddubs_first_lane(255, 127) }, i16::MAX, "2·255·127 = 64770 saturates");
        let a = vec![crate::kernels::pack_i8::pair(127, 127); MR];
        let b = vec![crate::kernels::pack_i8::pair(255, 255); NR];
        let mut out = [0; MR * NR];
        avx2_tile_i32_6x16(&a, &b, &mut out);
        assert!(out.iter().all(|&v| v == 64_770));
    }
}
