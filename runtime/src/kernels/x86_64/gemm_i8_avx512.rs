//! AVX-512 VNNI int8 tile kernels on operands packed as byte quads
//! ([`crate::kernels::pack_i8::PanelLayout::Quads8`]), the packed layouts unchanged.
//!
//! A 512-bit `vpdpbusd` does 64 exact `u8 × i8` multiply-adds, twice the 256-bit AVX-VNNI one. An
//! activation panel ([`NR`] = 16 columns of `i32`) is exactly one `zmm`, so a `6 × 16` tile has only
//! six accumulators: six independent `vpdpbusd` chains are too few to cover the instruction's
//! latency at full throughput. The main kernel therefore computes **two adjacent activation panels
//! at once**, a `6 × 32` tile: per depth quad it loads two `zmm` of activations, broadcasts one
//! weight quad per row and issues 12 `vpdpbusd` into 12 accumulators, each broadcast feeding two
//! of them (8 loads per 12 multiply instructions, against 8 per 12 of half the width for AVX-VNNI).
//! The driver ([`crate::kernels::int8`]) calls it on pairs of panels and the `6 × 16` tile of this
//! module on an odd last panel (six accumulators are enough for one tile in a product). The output
//! stage requantizes a whole row (one `zmm`) at a time, bit-exact with the scalar one
//! (`requantize16`): with the AVX2 stage on `ymm` halves, the stage took as long as the
//! accumulation at depths of a few hundred and the pair tile was no faster than AVX-VNNI there.
//!
//! Single-thread on a Sapphire Rapids core (per-thread CPU time, the machine shared), `gemm_u8` on
//! the convolution shapes of SmallVgg and VGG16-BN: 1.35–1.8× the GOPS of the AVX-VNNI table
//! (e.g. `512 × 4608 × 256`: ≈ 430–520 against ≈ 250–300 GOPS); the `6 × 16` tile alone, 1.04–1.5×.

use std::arch::x86_64::*;

use super::requantize512::requantize16;
use crate::kernels::isa::Isa;
use crate::kernels::types::TileStage;
use crate::kernels::types::{MR, NR};

/// Whether the tables may use the kernels of this module ([`Isa::Avx512Vnni`] enabled: AVX-512
/// F/BW/VL/VNNI; AVX2 and FMA for the output stage).
pub fn available() -> bool {
    Isa::Avx512Vnni.enabled()
}

/// The 12 accumulators of a `6 × 32` tile: row × panel.
type PairAcc = [[__m512i; 2]; MR];

/// Accumulates weight panel `a` against activation panels `b0` and `b1` (same depth).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn accumulate_pair(a: &[i32], b0: &[i32], b1: &[i32]) -> PairAcc {
    let mut acc: PairAcc = [[_mm512_setzero_si512(); 2]; MR];
    for ((aw, x0), x1) in a.chunks_exact(MR).zip(b0.chunks_exact(NR)).zip(b1.chunks_exact(NR)) {
        // SAFETY: `x0` and `x1` hold NR = 16 i32 each: one unaligned 512-bit load each.
        let (v0, v1) = unsafe { (_mm512_loadu_si512(x0.as_ptr().cast()), _mm512_loadu_si512(x1.as_ptr().cast())) };
        for (row, &w) in acc.iter_mut().zip(aw) {
            let w = _mm512_set1_epi32(w);
            row[0] = _mm512_dpbusd_epi32(row[0], v0, w);
            row[1] = _mm512_dpbusd_epi32(row[1], v1, w);
        }
    }
    acc
}

/// Accumulates weight panel `a` against one activation panel `b`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn accumulate_one(a: &[i32], b: &[i32]) -> [__m512i; MR] {
    let mut acc = [_mm512_setzero_si512(); MR];
    for (aw, x) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        // SAFETY: `x` holds NR = 16 i32: one unaligned 512-bit load.
        let v = unsafe { _mm512_loadu_si512(x.as_ptr().cast()) };
        for (row, &w) in acc.iter_mut().zip(aw) {
            *row = _mm512_dpbusd_epi32(*row, v, _mm512_set1_epi32(w));
        }
    }
    acc
}

/// Stores one `zmm` per row: the `MR × NR` tile in `i32`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn store_rows_i32(rows: [__m512i; MR], out: &mut [i32; MR * NR]) {
    for (row, dst) in rows.iter().zip(out.chunks_exact_mut(NR)) {
        // SAFETY: `dst` holds NR = 16 i32: one unaligned 512-bit store.
        unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), *row) };
    }
}

/// Requantizes one `zmm` per row (the rows of the stage's channels) and stores them as bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn store_rows_u8(rows: [__m512i; MR], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    for ((row, channel), dst) in rows.iter().zip(stage.channels).zip(out.chunks_exact_mut(NR)) {
        let v = requantize16(*row, channel, stage.zero_point, stage.clamp_min);
        // Values are in [0, 255]: the truncating `vpmovdb` is exact.
        // SAFETY: `dst` holds NR = 16 bytes: one unaligned 128-bit store.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(v)) };
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn pair_i32(a: &[i32], b0: &[i32], b1: &[i32], out: &mut [[i32; MR * NR]; 2]) {
    let acc = accumulate_pair(a, b0, b1);
    let [left, right] = out;
    store_rows_i32(acc.map(|r| r[0]), left);
    store_rows_i32(acc.map(|r| r[1]), right);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn pair_u8(a: &[i32], b0: &[i32], b1: &[i32], stage: TileStage<'_>, out: &mut [[u8; MR * NR]; 2]) {
    let acc = accumulate_pair(a, b0, b1);
    let [left, right] = out;
    store_rows_u8(acc.map(|r| r[0]), stage, left);
    store_rows_u8(acc.map(|r| r[1]), stage, right);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn tile_i32(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    store_rows_i32(accumulate_one(a, b), out);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn tile_u8(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    store_rows_u8(accumulate_one(a, b), stage, out);
}

const NEEDS: &str = "needs AVX-512 F/BW/VNNI, AVX2 and FMA";

/// `6 × 32` tile of `i32` accumulators: weight panel `a` against the adjacent activation panels
/// `b0` and `b1`, written as the two `6 × 16` tiles of `out`.
///
/// # Panics
/// If the CPU lacks AVX-512 VNNI: the table only holds this kernel after detecting it.
pub fn avx512vnni_pair_i32_6x32(a: &[i32], b0: &[i32], b1: &[i32], out: &mut [[i32; MR * NR]; 2]) {
    assert!(Isa::Avx512Vnni.on_cpu(), "avx512vnni_pair_i32_6x32 {NEEDS}");
    // SAFETY: the features are present (checked just above).
    unsafe { pair_i32(a, b0, b1, out) }
}

/// `6 × 32` tile requantized to `u8`, written as two `6 × 16` tiles.
///
/// # Panics
/// If the CPU lacks AVX-512 VNNI: the table only holds this kernel after detecting it.
pub fn avx512vnni_pair_u8_6x32(a: &[i32], b0: &[i32], b1: &[i32], stage: TileStage<'_>, out: &mut [[u8; MR * NR]; 2]) {
    assert!(Isa::Avx512Vnni.on_cpu(), "avx512vnni_pair_u8_6x32 {NEEDS}");
    // SAFETY: the features are present (checked just above).
    unsafe { pair_u8(a, b0, b1, stage, out) }
}

/// `6 × 16` tile of `i32` accumulators (the odd last panel).
///
/// # Panics
/// If the CPU lacks AVX-512 VNNI: the table only holds this kernel after detecting it.
pub fn avx512vnni_tile_i32_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::Avx512Vnni.on_cpu(), "avx512vnni_tile_i32_6x16 {NEEDS}");
    // SAFETY: the features are present (checked just above).
    unsafe { tile_i32(a, b, out) }
}

/// `6 × 16` tile requantized to `u8` (the odd last panel).
///
/// # Panics
/// If the CPU lacks AVX-512 VNNI: the table only holds this kernel after detecting it.
pub fn avx512vnni_tile_u8_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::Avx512Vnni.on_cpu(), "avx512vnni_tile_u8_6x16 {NEEDS}");
    // SAFETY: the features are present (checked just above).
    unsafe { tile_u8(a, b, stage, out) }
}

/// The tiles against their portable twins, on raw panels: every depth from 1 to 9 quads, extremes
/// included, and output stages with fewer than [`MR`] rows (the last weight panel).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::gemm_i8::{generic_pair_i32_q4_6x32, generic_pair_u8_q4_6x32, generic_tile_i32_q4_6x16, generic_tile_u8_q4_6x16};
    use crate::quant::{ChannelRequant, FixedPointMultiplier};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn words(rng: &mut SmallRng, len: usize, signed: bool) -> Vec<i32> {
        (0..len)
            .map(|_| {
                let bytes: [u8; 4] = std::array::from_fn(|_| match (rng.gen_range(0..6), signed) {
                    (0, true) => 127i8 as u8,
                    (1, true) => (-127i8) as u8,
                    (0 | 1, false) => 255,
                    (_, true) => rng.gen_range(-127i8..=127) as u8,
                    (_, false) => rng.gen(),
                });
                i32::from_le_bytes(bytes)
            })
            .collect()
    }

    fn channels(rng: &mut SmallRng, rows: usize) -> Vec<ChannelRequant> {
        (0..rows)
            .map(|_| ChannelRequant {
                multiplier: FixedPointMultiplier::from_real(2f64.powf(rng.gen_range(-18.0..-6.0))).unwrap(),
                bias: rng.gen_range(-50_000..50_000),
            })
            .collect()
    }

    #[test]
    fn tiles_equal_their_portable_twins_bit_for_bit() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(512);
        for units in 1..=9 {
            let a = words(&mut rng, units * MR, true);
            let (b0, b1) = (words(&mut rng, units * NR, false), words(&mut rng, units * NR, false));
            let (mut got, mut want) = ([[0; MR * NR]; 2], [[0; MR * NR]; 2]);
            avx512vnni_pair_i32_6x32(&a, &b0, &b1, &mut got);
            generic_pair_i32_q4_6x32(&a, &b0, &b1, &mut want);
            assert_eq!(got, want, "pair i32, {units} quads");
            avx512vnni_tile_i32_6x16(&a, &b1, &mut got[0]);
            generic_tile_i32_q4_6x16(&a, &b1, &mut want[0]);
            assert_eq!(got[0], want[0], "tile i32, {units} quads");
            for rows in 1..=MR {
                let ch = channels(&mut rng, rows);
                let (zero_point, relu) = (rng.gen(), rng.gen());
                let stage = TileStage { channels: &ch, zero_point, clamp_min: if relu { zero_point } else { 0 } };
                let (mut got, mut want) = ([[0u8; MR * NR]; 2], [[0u8; MR * NR]; 2]);
                avx512vnni_pair_u8_6x32(&a, &b0, &b1, stage, &mut got);
                generic_pair_u8_q4_6x32(&a, &b0, &b1, stage, &mut want);
                // Rows past the stage's channels are not written by either: compare the valid ones.
                let valid = rows * NR;
                assert_eq!(got.map(|t| t[..valid].to_vec()), want.map(|t| t[..valid].to_vec()), "pair u8, {units} quads, {rows} rows");
                avx512vnni_tile_u8_6x16(&a, &b0, stage, &mut got[0]);
                generic_tile_u8_q4_6x16(&a, &b0, stage, &mut want[0]);
                assert_eq!(got[0][..valid], want[0][..valid], "tile u8, {units} quads, {rows} rows");
            }
        }
    }
}
