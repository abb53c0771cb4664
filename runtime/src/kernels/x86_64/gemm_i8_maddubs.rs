//! AVX2 int8 tile kernels, `6 × 16`, on byte quads with `vpmaddubsw`: 32 `u8 × i8` products per
//! instruction (twice `vpmaddwd`'s 16), summed in pairs into `i16`, then `vpmaddwd` with ones sums
//! the two pairs of each quad into `i32` and `vpaddd` accumulates: 3 instructions per 32
//! multiply-adds where the `i16`-pair tiles of [`super::gemm_i8`] take 4, and half the bytes of
//! packed activations and weights.
//!
//! `vpmaddubsw` saturates a pair beyond `i16`; the weights come split so that no pair can
//! ([`crate::kernels::pack_split`]): the kept words run over the whole depth, then each split-off
//! word adds its row's share. Bit for bit the portable twin
//! [`generic_tile_i32_q4s_6x16`](crate::kernels::generic::gemm_i8::generic_tile_i32_q4s_6x16),
//! which saturates as the instruction does, and equal to the plain triple loop.

use std::arch::x86_64::*;

use super::gemm_i8::{store_i32, store_u8, Acc};
use crate::kernels::isa::Isa;
use crate::kernels::pack_split::entry_place;
use crate::kernels::types::TileStage;
use crate::kernels::types::{MR, NR};

/// Whether the tables may use the kernels of this module ([`Isa::Avx2`] enabled).
pub fn available() -> bool {
    Isa::Avx2.enabled()
}

/// `Σ` over the quad of `x · w`: `vpmaddubsw` then `vpmaddwd` with ones.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn quad_products(x: __m256i, w: __m256i, ones: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones)
}

/// `vpmaddwd`'s second operand, read from memory so that the 12 accumulators, two activation
/// registers, the broadcast weight and one temporary fill the 16 registers without spilling.
static ONES: [i16; 16] = [1; 16];

/// The 12 accumulators of one tile: kept words, then split-off ones.
#[target_feature(enable = "avx2,fma")]
fn accumulate(a: &[i32], b: &[i32]) -> Acc {
    let units = b.len() / NR;
    let (kept, split_off) = a.split_at(units * MR);
    let z = _mm256_setzero_si256();
    let [mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31, mut c40, mut c41, mut c50, mut c51] = [z; 12];
    for (aw, bw) in kept.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        // SAFETY: `aw` holds MR = 6 i32 (read at offsets 0..24 bytes), `bw` NR = 16 i32 (two
        // unaligned 256-bit loads), `ONES` 16 i16 (one 256-bit load); AVX2 is enabled here; the
        // block only reads memory and writes the registers it names.
        unsafe {
            std::arch::asm!(
                "vmovdqu {b0}, ymmword ptr [{b}]",
                "vmovdqu {b1}, ymmword ptr [{b} + 32]",
                "vpbroadcastd {w}, dword ptr [{a}]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c00}, {c00}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c01}, {c01}, {t}",
                "vpbroadcastd {w}, dword ptr [{a} + 4]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c10}, {c10}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c11}, {c11}, {t}",
                "vpbroadcastd {w}, dword ptr [{a} + 8]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c20}, {c20}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c21}, {c21}, {t}",
                "vpbroadcastd {w}, dword ptr [{a} + 12]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c30}, {c30}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c31}, {c31}, {t}",
                "vpbroadcastd {w}, dword ptr [{a} + 16]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c40}, {c40}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c41}, {c41}, {t}",
                "vpbroadcastd {w}, dword ptr [{a} + 20]",
                "vpmaddubsw {t}, {b0}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c50}, {c50}, {t}",
                "vpmaddubsw {t}, {b1}, {w}", "vpmaddwd {t}, {t}, ymmword ptr [{ones}]", "vpaddd {c51}, {c51}, {t}",
                a = in(reg) aw.as_ptr(),
                b = in(reg) bw.as_ptr(),
                ones = in(reg) ONES.as_ptr(),
                b0 = out(ymm_reg) _, b1 = out(ymm_reg) _, w = out(ymm_reg) _, t = out(ymm_reg) _,
                c00 = inout(ymm_reg) c00, c01 = inout(ymm_reg) c01, c10 = inout(ymm_reg) c10, c11 = inout(ymm_reg) c11,
                c20 = inout(ymm_reg) c20, c21 = inout(ymm_reg) c21, c30 = inout(ymm_reg) c30, c31 = inout(ymm_reg) c31,
                c40 = inout(ymm_reg) c40, c41 = inout(ymm_reg) c41, c50 = inout(ymm_reg) c50, c51 = inout(ymm_reg) c51,
                options(nostack, readonly, preserves_flags),
            );
        }
    }
    let mut acc: Acc = [[c00, c01], [c10, c11], [c20, c21], [c30, c31], [c40, c41], [c50, c51]];
    let extra = split_off_sums(split_off, b);
    for (row, e) in acc.iter_mut().zip(&extra) {
        row[0] = _mm256_add_epi32(row[0], e[0]);
        row[1] = _mm256_add_epi32(row[1], e[1]);
    }
    acc
}

/// The split-off words' products, per row (apart from the main loop, whose accumulators stay in
/// registers). The entries come sorted by row: each row sums its own in two registers.
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
fn split_off_sums(split_off: &[i32], b: &[i32]) -> Acc {
    let ones = _mm256_set1_epi16(1);
    let mut extra: Acc = [[_mm256_setzero_si256(); 2]; MR];
    let count = split_off[0] as usize;
    let mut entries = split_off[1..1 + 2 * count].chunks_exact(2).peekable();
    for (r, row) in extra.iter_mut().enumerate() {
        let (mut e0, mut e1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while let Some(entry) = entries.next_if(|e| entry_place(e[0]).0 == r) {
            let bw = &b[entry_place(entry[0]).1 * NR..][..NR];
            // SAFETY: `bw` holds NR = 16 i32: two unaligned 256-bit loads.
            let (b0, b1) = unsafe { (_mm256_loadu_si256(bw.as_ptr().cast()), _mm256_loadu_si256(bw.as_ptr().add(8).cast())) };
            let w = _mm256_set1_epi32(entry[1]);
            e0 = _mm256_add_epi32(e0, quad_products(b0, w, ones));
            e1 = _mm256_add_epi32(e1, quad_products(b1, w, ones));
        }
        *row = [e0, e1];
    }
    debug_assert!(entries.next().is_none(), "split-off entries sorted by row");
    extra
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

/// `6 × 16` tile of `i32` accumulators from split weights ([`crate::kernels::pack_split`]).
///
/// # Panics
/// If the CPU lacks AVX2/FMA (the table only holds this kernel after detecting them), or if `a`
/// is not a split-weights panel for `b`'s depth.
pub fn avx2_tile_i32_q4s_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::Avx2.on_cpu(), "avx2_tile_i32_q4s_6x16 needs AVX2 and FMA");
    // SAFETY: AVX2 and FMA are present (checked just above).
    unsafe { tile_i32(a, b, out) }
}

/// `6 × 16` tile from split weights, requantized to `u8`.
///
/// # Panics
/// As [`avx2_tile_i32_q4s_6x16`].
pub fn avx2_tile_u8_q4s_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::Avx2.on_cpu(), "avx2_tile_u8_q4s_6x16 needs AVX2 and FMA");
    // SAFETY: AVX2 and FMA are present (checked just above).
    unsafe { tile_u8(a, b, stage, out) }
}
