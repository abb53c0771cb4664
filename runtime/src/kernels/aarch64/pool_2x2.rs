//! The 2×2 stride-2 max pool on NEON: eight `f32` or thirty-two `u8` outputs per step, the fast
//! twins of [`generic_pool_2x2`](crate::kernels::generic::pool_2x2::generic_pool_2x2).
//!
//! `ld2` splits each row's columns into even and odd registers, so every window is one lane of
//! four registers and `(t₀ ⊔ t₁) ⊔ (b₀ ⊔ b₁)` is three lane-wise `⊔`. On `u8` that is `umax`. On
//! `f32`, `fmax` alone would differ from the plain loop on signed zeros (`fmax(−0, +0)` is `+0`,
//! the plain loop keeps its first operand on ties), so `a ⊔ b` is `a` where `a == b`, else
//! `fmax(a, b)`: the larger, or NaN when either is NaN, as the plain loop (`fcmeq`, `fmax`, `bsl`).
//! The outputs past the last full step go through the plain loop's `⊔`.

use std::arch::aarch64::*;

use crate::kernels::isa::Isa;
use crate::kernels::pool::value::{check_2x2, PoolValue};

/// `a ⊔ b` on four lanes, as [`PoolValue::larger`] on `f32`: `a` on ties (so `−0 ⊔ +0` is `−0`),
/// else the larger, NaN when either is NaN.
#[target_feature(enable = "neon")]
#[inline]
fn larger(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    vbslq_f32(vceqq_f32(a, b), a, vmaxq_f32(a, b))
}

/// The window maxima of one row pair (`top`, `bottom`, each at least `2·out.len()` values).
#[target_feature(enable = "neon")]
fn pool_row_f32(top: &[f32], bottom: &[f32], out: &mut [f32]) {
    const STEP: usize = 8;
    let body = out.len() / STEP * STEP;
    for j in (0..body).step_by(STEP) {
        // SAFETY: outputs j..j + 8 read columns 2j..2j + 16 of each row (2·out.len() ≤ their
        // lengths) and write out[j..j + 8].
        unsafe {
            let (t, b) = (top.as_ptr().add(2 * j), bottom.as_ptr().add(2 * j));
            let (t0, t1, b0, b1) = (vld2q_f32(t), vld2q_f32(t.add(8)), vld2q_f32(b), vld2q_f32(b.add(8)));
            let o = out.as_mut_ptr().add(j);
            vst1q_f32(o, larger(larger(t0.0, t0.1), larger(b0.0, b0.1)));
            vst1q_f32(o.add(4), larger(larger(t1.0, t1.1), larger(b1.0, b1.1)));
        }
    }
    tail(top, bottom, out, body);
}

/// The window maxima of one row pair of `u8` (as [`pool_row_f32`]), two registers of outputs per
/// step, sixteen at the end.
#[target_feature(enable = "neon")]
fn pool_row_u8(top: &[u8], bottom: &[u8], out: &mut [u8]) {
    let (pairs, body, dst) = (out.len() / 32 * 32, out.len() / 16 * 16, out.as_mut_ptr());
    // SAFETY (each call): outputs j..j + 16 read columns 2j..2j + 32 of each row (2·out.len() ≤
    // their lengths) and write out[j..j + 16] through `dst`; the calls keep j + 16 ≤ out.len().
    let sixteen = |j: usize| unsafe {
        let (t, b) = (vld2q_u8(top.as_ptr().add(2 * j)), vld2q_u8(bottom.as_ptr().add(2 * j)));
        vst1q_u8(dst.add(j), vmaxq_u8(vmaxq_u8(t.0, t.1), vmaxq_u8(b.0, b.1)));
    };
    for j in (0..pairs).step_by(32) {
        sixteen(j);
        sixteen(j + 16);
    }
    if body > pairs {
        sixteen(pairs);
    }
    tail(top, bottom, out, body);
}

/// Outputs `from..` of a row pair as the plain loop computes them.
fn tail<T: PoolValue>(top: &[T], bottom: &[T], out: &mut [T], from: usize) {
    for (j, o) in out.iter_mut().enumerate().skip(from) {
        *o = top[2 * j].larger(top[2 * j + 1]).larger(bottom[2 * j].larger(bottom[2 * j + 1]));
    }
}

/// Runs `row` on each row pair of `rows` (rows of `width`) into the output rows of `out`.
fn by_pairs<T>(rows: &[T], width: usize, out: &mut [T], row: impl Fn(&[T], &[T], &mut [T])) {
    let ow = width / 2;
    if ow == 0 {
        return;
    }
    for (pair, out_row) in rows.chunks_exact(2 * width).zip(out.chunks_exact_mut(ow)) {
        let (top, bottom) = pair.split_at(width);
        row(top, bottom, out_row);
    }
}

/// The 2×2 pool of `f32` row pairs on NEON.
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`], or `rows` does not hold `out.len() / (width / 2)` row pairs.
pub fn neon_pool_2x2_f32(rows: &[f32], width: usize, out: &mut [f32]) {
    check_2x2(rows, width, out);
    assert!(Isa::Neon.on_cpu(), "neon_pool_2x2_f32 needs NEON");
    // SAFETY (each call): the CPU has NEON (checked just above).
    by_pairs(rows, width, out, |top, bottom, out| unsafe { pool_row_f32(top, bottom, out) });
}

/// The 2×2 pool of `u8` row pairs on NEON.
///
/// # Panics
/// As [`neon_pool_2x2_f32`].
pub fn neon_pool_2x2_u8(rows: &[u8], width: usize, out: &mut [u8]) {
    check_2x2(rows, width, out);
    assert!(Isa::Neon.on_cpu(), "neon_pool_2x2_u8 needs NEON");
    // SAFETY (each call): the CPU has NEON (checked just above).
    by_pairs(rows, width, out, |top, bottom, out| unsafe { pool_row_u8(top, bottom, out) });
}
