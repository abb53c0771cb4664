//! AVX-VNNI int8 tile kernels, `6 × 16`, on operands packed as byte quads
//! ([`crate::kernels::pack_i8::PanelLayout::Quads8`]).
//!
//! `vpdpbusd` multiplies four `u8 × i8` pairs and adds them *and the accumulator* in `i32`, without
//! the intermediate `i16` saturation of `vpmaddubsw`: 32 exact multiply-adds per instruction and
//! no separate add, four times the work per instruction of the AVX2 `vpmaddwd` + `vpaddd` pair.
//! Per depth quad the tile loads two registers of activations, broadcasts one weight quad per row
//! and issues 12 `vpdpbusd`. The output stage is the AVX2 one.

use std::arch::x86_64::*;

use super::gemm_i8::{store_i32, store_u8, Acc};
use crate::kernels::isa::Isa;
use crate::kernels::types::TileStage;
use crate::kernels::types::{MR, NR};

/// Whether the tables may use the kernels of this module ([`Isa::AvxVnni`] enabled: AVX-VNNI on
/// top of AVX2 and FMA).
pub fn available() -> bool {
    Isa::AvxVnni.enabled()
}

#[target_feature(enable = "avx2,fma,avxvnni")]
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
            row[0] = _mm256_dpbusd_avx_epi32(row[0], b0, w);
            row[1] = _mm256_dpbusd_avx_epi32(row[1], b1, w);
        }
    }
    acc
}

#[target_feature(enable = "avx2,fma,avxvnni")]
fn tile_i32(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    store_i32(&accumulate(a, b), out);
}

#[target_feature(enable = "avx2,fma,avxvnni")]
fn tile_u8(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    store_u8(&accumulate(a, b), stage, out);
}

/// `6 × 16` tile of `i32` accumulators.
///
/// # Panics
/// If the CPU lacks AVX-VNNI: the table only holds this kernel after detecting it.
pub fn avxvnni_tile_i32_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::AvxVnni.on_cpu(), "avxvnni_tile_i32_6x16 needs AVX2, FMA and AVX-VNNI");
    // SAFETY: AVX2, FMA and AVX-VNNI are present (checked just above).
    unsafe { tile_i32(a, b, out) }
}

/// `6 × 16` tile requantized to `u8`.
///
/// # Panics
/// If the CPU lacks AVX-VNNI: the table only holds this kernel after detecting it.
pub fn avxvnni_tile_u8_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::AvxVnni.on_cpu(), "avxvnni_tile_u8_6x16 needs AVX2, FMA and AVX-VNNI");
    // SAFETY: AVX2, FMA and AVX-VNNI are present (checked just above).
    unsafe { tile_u8(a, b, stage, out) }
}
