//! aarch64 int8 tile kernels, `6 × 16`, on operands packed as byte quads
//! ([`crate::kernels::pack_i8::PanelLayout::Quads8`]), exact twins of
//! [`generic_tile_i32_q4_6x16`](crate::kernels::generic::gemm_i8::generic_tile_i32_q4_6x16).
//!
//! ## Unsigned activations on signed instructions
//! Both tiers multiply signed bytes, so the activations are flipped to `x − 128` (an `eor` with
//! `0x80` per register of sixteen bytes) and each row gets back `128 · Σₖ w` at the end:
//! `Σ w·x = Σ w·(x − 128) + 128·Σ w`, exact in `i32` for every depth up to
//! [`MAX_DEPTH`](crate::kernels::int8::MAX_DEPTH). The row sums of the weight panel come from a
//! short pass over it (`saddlp` + `sadalp`, three registers per two depth quads).
//!
//! ## `dotprod` (ARMv8.2 dot product)
//! `sdot v.4s, x.16b, w.4b[r]` adds four byte products into each `i32` lane: 16 multiply-adds per
//! instruction, accumulating. Per depth quad the tile loads four registers of activations (16
//! columns × 4 bytes), flips them, and issues 24 `sdot` by element into 24 accumulators (6 rows ×
//! 4 registers); the six weight quads of two depth quads are three loads. `vdotq_laneq_s32` is not
//! stable in Rust 1.95, so each `sdot` is one `asm!` instruction inside a
//! `#[target_feature(enable = "dotprod")]` function.
//!
//! ## `neon` (plain ARMv8)
//! `smull`/`smull2` multiply eight byte pairs into `i16` (at most `128·128`, no overflow) and
//! `sadalp` adds adjacent `i16` pairs into `i32` accumulators: 4 multiply-adds per instruction. The
//! half sums of a column sit in two lanes, so the tile runs in two halves of eight columns (24
//! accumulators each) and adds the lanes pairwise at the end (`addp`).
//!
//! The tiles to `u8` requantize their registers with the NEON output stage
//! ([`super::requantize`]), bit for bit the scalar one.

use std::arch::aarch64::*;

use super::requantize::store_u8;
use crate::kernels::isa::Isa;
use crate::kernels::types::{TileStage, MR, NR};

/// The tile's sums: row × four registers of four columns.
type Acc = [[int32x4_t; 4]; MR];

/// Whether the tables may use the `neon_*` tiles ([`Isa::Neon`] enabled).
pub fn neon_available() -> bool {
    Isa::Neon.enabled()
}

/// Whether the tables may use the `dotprod_*` tiles ([`Isa::Dotprod`] enabled).
pub fn dotprod_available() -> bool {
    Isa::Dotprod.enabled()
}

/// One `MR × NR` tile of `i32` sums on NEON (`smull` + `sadalp`).
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`].
pub fn neon_tile_i32_q4_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::Neon.on_cpu(), "neon_tile_i32_q4_6x16 needs NEON");
    // SAFETY: the CPU has NEON (checked just above).
    unsafe { store_i32(&neon_accumulate(a, b), out) }
}

/// One tile on NEON, requantized to `u8` with the rows' output stage.
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`].
pub fn neon_tile_u8_q4_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::Neon.on_cpu(), "neon_tile_u8_q4_6x16 needs NEON");
    // SAFETY: the CPU has NEON (checked just above).
    unsafe { store_u8(&neon_accumulate(a, b), stage, out) }
}

/// One `MR × NR` tile of `i32` sums on the dot product (`sdot`).
///
/// # Panics
/// When the CPU lacks [`Isa::Dotprod`].
pub fn dotprod_tile_i32_q4_6x16(a: &[i32], b: &[i32], out: &mut [i32; MR * NR]) {
    assert!(Isa::Dotprod.on_cpu(), "dotprod_tile_i32_q4_6x16 needs NEON and the dot product");
    // SAFETY: the CPU has NEON and the dot product (checked just above).
    unsafe { store_i32(&dotprod_accumulate(a, b), out) }
}

/// One tile on the dot product, requantized to `u8` with the rows' output stage.
///
/// # Panics
/// When the CPU lacks [`Isa::Dotprod`].
pub fn dotprod_tile_u8_q4_6x16(a: &[i32], b: &[i32], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    assert!(Isa::Dotprod.on_cpu(), "dotprod_tile_u8_q4_6x16 needs NEON and the dot product");
    // SAFETY: the CPU has NEON and the dot product (checked just above).
    unsafe { store_u8(&dotprod_accumulate(a, b), stage, out) }
}

/// Depth quads of a tile, checking that the weight panel covers them.
fn units(a: &[i32], b: &[i32]) -> usize {
    let units = b.len() / NR;
    assert!(a.len() >= units * MR && b.len() == units * NR, "panels of whole depth quads");
    units
}

/// Sixteen activation bytes at `p`, flipped to `x − 128` as `i8`.
///
/// # Safety
/// `p` must point at sixteen readable bytes.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn flipped(p: *const i32) -> int8x16_t {
    // SAFETY: the caller's sixteen bytes.
    vreinterpretq_s8_u8(veorq_u8(unsafe { vld1q_u8(p.cast()) }, vdupq_n_u8(0x80)))
}

/// `Σₖ w` of each of the panel's rows over `units` depth quads, times 128: what the flip of the
/// activations took off each row's sums.
#[target_feature(enable = "neon")]
fn flip_correction(a: &[i32], units: usize) -> [i32; MR] {
    // Two depth quads are twelve words, three registers: [r0..r3 of u], [r4 r5 of u, r0 r1 of
    // u+1], [r2..r5 of u+1]; each lane sums the four bytes of one word.
    let mut s = [vdupq_n_s32(0); 3];
    for pair in a[..units / 2 * 2 * MR].chunks_exact(2 * MR) {
        for (j, s) in s.iter_mut().enumerate() {
            // SAFETY: words 4j .. 4j + 4 of the twelve.
            let w = unsafe { vld1q_s8(pair.as_ptr().add(4 * j).cast()) };
            *s = vpadalq_s16(*s, vpaddlq_s8(w));
        }
    }
    let mut lanes = [[0i32; 4]; 3];
    for (l, s) in lanes.iter_mut().zip(s) {
        // SAFETY: `l` holds four i32.
        unsafe { vst1q_s32(l.as_mut_ptr(), s) };
    }
    let [x, y, z] = lanes;
    let mut sums = [x[0] + y[2], x[1] + y[3], x[2] + z[0], x[3] + z[1], y[0] + z[2], y[1] + z[3]];
    if units % 2 == 1 {
        for (s, w) in sums.iter_mut().zip(&a[(units - 1) * MR..units * MR]) {
            *s += w.to_le_bytes().iter().map(|&v| v as i8 as i32).sum::<i32>();
        }
    }
    sums.map(|s| s.wrapping_mul(128))
}

/// `sdot acc.4s, x.16b, w.4b[lane]`: `acc[i] += Σ_{j<4} x[4i + j] · w[4·lane + j]`.
macro_rules! sdot {
    ($acc:expr, $x:expr, $w:expr, $lane:literal) => {
        // SAFETY: one `sdot` on the named registers (no memory, no flags); the enclosing function
        // enables `dotprod`, which its callers checked.
        unsafe {
            ::core::arch::asm!(
                concat!("sdot {acc:v}.4s, {x:v}.16b, {w:v}.4b[", $lane, "]"),
                acc = inout(vreg) $acc, x = in(vreg) $x, w = in(vreg) $w,
                options(pure, nomem, nostack, preserves_flags),
            )
        }
    };
}

/// The rows' `sdot`s of one depth quad: row `r` by lane `lane` of weight register `w`.
macro_rules! sdot_rows {
    ($acc:ident, $x:ident; $($r:literal: $w:ident[$lane:literal]),*) => {$(
        for (a, &x) in $acc[$r].iter_mut().zip(&$x) {
            sdot!(*a, x, $w, $lane);
        }
    )*};
}

#[target_feature(enable = "neon,dotprod")]
fn dotprod_accumulate(a: &[i32], b: &[i32]) -> Acc {
    let units = units(a, b);
    let mut acc: Acc = [[vdupq_n_s32(0); 4]; MR];
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    // SAFETY: unit u's activations are words u·NR .. (u + 1)·NR of `b`.
    let acts = |u: usize| unsafe { [0, 4, 8, 12].map(|c| flipped(bp.add(u * NR + c))) };
    for p in 0..units / 2 {
        // SAFETY: the twelve weight words of units 2p and 2p + 1 are inside `a` (checked by `units`).
        let (wa, wb, wc) = unsafe { (vld1q_s8(ap.add(12 * p).cast()), vld1q_s8(ap.add(12 * p + 4).cast()), vld1q_s8(ap.add(12 * p + 8).cast())) };
        let x = acts(2 * p);
        sdot_rows!(acc, x; 0: wa[0], 1: wa[1], 2: wa[2], 3: wa[3], 4: wb[0], 5: wb[1]);
        let x = acts(2 * p + 1);
        sdot_rows!(acc, x; 0: wb[2], 1: wb[3], 2: wc[0], 3: wc[1], 4: wc[2], 5: wc[3]);
    }
    if units % 2 == 1 {
        let u = units - 1;
        // SAFETY: the six weight words of unit u are inside `a`: four, then two.
        let (wa, wb) = unsafe { (vld1q_s8(ap.add(u * MR).cast()), vcombine_s8(vld1_s8(ap.add(u * MR + 4).cast()), vdup_n_s8(0))) };
        let x = acts(u);
        sdot_rows!(acc, x; 0: wa[0], 1: wa[1], 2: wa[2], 3: wa[3], 4: wb[0], 5: wb[1]);
    }
    corrected(acc, flip_correction(a, units))
}

#[target_feature(enable = "neon")]
fn neon_accumulate(a: &[i32], b: &[i32]) -> Acc {
    let units = units(a, b);
    let mut out: Acc = [[vdupq_n_s32(0); 4]; MR];
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    for half in 0..2 {
        // Per row and register of four columns: the half sums of the first two columns (`lo`)
        // and of the last two (`hi`).
        let mut lo = [[vdupq_n_s32(0); 2]; MR];
        let mut hi = [[vdupq_n_s32(0); 2]; MR];
        for u in 0..units {
            // SAFETY: columns 8·half .. 8·half + 8 of unit u are inside `b`, its weights inside `a`
            // (checked by `units`).
            unsafe {
                let x = [flipped(bp.add(u * NR + 8 * half)), flipped(bp.add(u * NR + 8 * half + 4))];
                for r in 0..MR {
                    let w = vreinterpretq_s8_s32(vld1q_dup_s32(ap.add(u * MR + r)));
                    for j in 0..2 {
                        lo[r][j] = vpadalq_s16(lo[r][j], vmull_s8(vget_low_s8(x[j]), vget_low_s8(w)));
                        hi[r][j] = vpadalq_s16(hi[r][j], vmull_high_s8(x[j], w));
                    }
                }
            }
        }
        for r in 0..MR {
            for j in 0..2 {
                out[r][2 * half + j] = vpaddq_s32(lo[r][j], hi[r][j]);
            }
        }
    }
    corrected(out, flip_correction(a, units))
}

/// The sums with each row's flip correction added back.
#[target_feature(enable = "neon")]
#[inline]
fn corrected(mut acc: Acc, correction: [i32; MR]) -> Acc {
    for (row, c) in acc.iter_mut().zip(correction) {
        let c = vdupq_n_s32(c);
        for a in row.iter_mut() {
            *a = vaddq_s32(*a, c);
        }
    }
    acc
}

/// Stores the tile row-major.
#[target_feature(enable = "neon")]
fn store_i32(acc: &Acc, out: &mut [i32; MR * NR]) {
    for (r, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: r·NR + 4j + 4 <= MR·NR.
            unsafe { vst1q_s32(out.as_mut_ptr().add(r * NR + 4 * j), v) };
        }
    }
}
