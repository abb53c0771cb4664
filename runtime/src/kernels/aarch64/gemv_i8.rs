//! The int8 matrix-vector product on the dot product, over rows padded to
//! [`GEMV_ALIGN`](crate::kernels::pack_i8::GEMV_ALIGN) bytes, four rows at a time so that each
//! activation load serves four rows; the fast twin of
//! [`generic_gemv_u8i8`](crate::kernels::generic::gemv_i8::generic_gemv_u8i8), exact.
//!
//! `udot` multiplies unsigned bytes, so the weights are flipped to `w + 128` (`eor 0x80`, one per
//! sixteen weights) and the sums lose `128 · Σₖ x`, the same for every row and computed once per
//! call: per sixteen columns and four rows, five loads, four `eor` and four `udot` (64
//! multiply-adds). The sums stay below `255 · 255 · MAX_DEPTH < 2³²` in the `u32` lanes.

use std::arch::aarch64::*;

use crate::kernels::isa::Isa;

/// `out[r] = Σ_k w[r·stride + k] · x[k]` (as
/// [`generic_gemv_u8i8`](crate::kernels::generic::gemv_i8::generic_gemv_u8i8)) on the dot product.
///
/// # Panics
/// When the CPU lacks [`Isa::Dotprod`], or the operands do not hold `out.len()` rows of `stride`
/// bytes and `x.len() <= stride` activations.
pub fn dotprod_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    assert!(Isa::Dotprod.on_cpu(), "dotprod_gemv_u8i8 needs NEON and the dot product");
    assert!(x.len() <= stride && w.len() >= out.len() * stride, "GEMV operands cover the rows");
    // SAFETY: the CPU has NEON and the dot product (checked just above).
    unsafe { gemv(w, stride, x, out) }
}

#[target_feature(enable = "neon,dotprod")]
fn gemv(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    let body = x.len() / 16 * 16;
    let correction = x[..body].iter().map(|&v| v as u32).sum::<u32>().wrapping_mul(128);
    let tail = |row: &[i8]| row[body..x.len()].iter().zip(&x[body..]).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>();
    let full = out.len() / 4 * 4;
    for (rows, outs) in w.chunks_exact(4 * stride).zip(out[..full].chunks_exact_mut(4)) {
        // SAFETY: `rows` holds four rows of `stride >= x.len()` bytes (checked by the caller).
        let sums = unsafe { four_rows(rows.as_ptr(), stride, x, body) };
        for ((o, s), row) in outs.iter_mut().zip(sums).zip(rows.chunks_exact(stride)) {
            *o = s.wrapping_sub(correction) as i32 + tail(row);
        }
    }
    for (r, o) in out.iter_mut().enumerate().skip(full) {
        let row = &w[r * stride..(r + 1) * stride];
        // SAFETY: one row of `stride >= x.len()` bytes.
        let sums = unsafe { one_row(row.as_ptr(), x, body) };
        *o = sums.wrapping_sub(correction) as i32 + tail(row);
    }
}

/// `udot acc.4s, w.16b, x.16b`: `acc[i] += Σ_{j<4} w[4i + j] · x[4i + j]` on unsigned bytes.
macro_rules! udot {
    ($acc:expr, $w:expr, $x:expr) => {
        // SAFETY: one `udot` on the named registers (no memory, no flags); the enclosing function
        // enables `dotprod`, which its callers checked.
        unsafe {
            ::core::arch::asm!("udot {acc:v}.4s, {w:v}.16b, {x:v}.16b", acc = inout(vreg) $acc, w = in(vreg) $w,
                x = in(vreg) $x, options(pure, nomem, nostack, preserves_flags))
        }
    };
}

/// The flipped sums `Σ (w + 128)·x` of four rows at `w` (`stride` bytes apart) over `body` columns.
///
/// # Safety
/// Four rows of at least `body` bytes must be readable from `w`, `stride` bytes apart.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn four_rows(w: *const i8, stride: usize, x: &[u8], body: usize) -> [u32; 4] {
    let flip = vdupq_n_u8(0x80);
    let mut acc = [vdupq_n_u32(0); 4];
    for c in (0..body).step_by(16) {
        // SAFETY: c + 16 <= body <= x.len().
        let xv = unsafe { vld1q_u8(x.as_ptr().add(c)) };
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: each row holds `body` bytes (the caller's promise), c + 16 <= body.
            let wv = veorq_u8(unsafe { vld1q_u8(w.add(r * stride + c).cast()) }, flip);
            udot!(*a, wv, xv);
        }
    }
    acc.map(|a| vaddvq_u32(a))
}

/// The flipped sum `Σ (w + 128)·x` of the lone row at `w` over `body` columns.
///
/// # Safety
/// `body` bytes must be readable from `w`.
#[target_feature(enable = "neon,dotprod")]
unsafe fn one_row(w: *const i8, x: &[u8], body: usize) -> u32 {
    let flip = vdupq_n_u8(0x80);
    let mut acc = vdupq_n_u32(0);
    for c in (0..body).step_by(16) {
        // SAFETY: c + 16 <= body, inside `x` and the row.
        let (wv, xv) = unsafe { (veorq_u8(vld1q_u8(w.add(c).cast()), flip), vld1q_u8(x.as_ptr().add(c))) };
        udot!(acc, wv, xv);
    }
    vaddvq_u32(acc)
}
