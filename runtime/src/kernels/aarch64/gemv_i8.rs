//! The int8 matrix-vector products on NEON, over rows padded to
//! [`GEMV_ALIGN`](crate::kernels::pack_i8::GEMV_ALIGN) bytes, four rows at a time so that each
//! activation load serves four rows; the fast twins of
//! [`generic_gemv_u8i8`](crate::kernels::generic::gemv_i8::generic_gemv_u8i8), exact.
//!
//! Both multiply unsigned bytes, so the weights are flipped to `w + 128` (`eor 0x80`, one per
//! sixteen weights) and the sums lose `128 · Σₖ x`, the same for every row and computed once per
//! call. The sums stay below `255 · 255 · MAX_DEPTH < 2³²` in the `u32` lanes.
//! - `dotprod` (ARMv8.2): per sixteen columns and four rows, five loads, four `eor` and four `udot`
//!   (64 multiply-adds).
//! - `neon` (ARMv8.0): `umull`/`umull2` multiply eight byte pairs into `u16` (at most `255 · 255`,
//!   no overflow) and `uadalp` adds adjacent pairs into `u32` accumulators, two per row so that
//!   the additions of a row do not wait on each other: per sixteen columns and four rows, five
//!   loads, four `eor`, eight `umull` and eight `uadalp`.

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
    from_flipped_sums(
        w,
        stride,
        x,
        out,
        // SAFETY (both): the CPU has NEON and the dot product (checked just above); the driver
        // passes four rows, or one, of `stride >= body` bytes.
        |rows, body| unsafe { four_rows(rows.as_ptr(), stride, x, body) },
        |row, body| unsafe { one_row(row.as_ptr(), x, body) },
    );
}

/// `out[r] = Σ_k w[r·stride + k] · x[k]` (as
/// [`generic_gemv_u8i8`](crate::kernels::generic::gemv_i8::generic_gemv_u8i8)) on plain NEON
/// (`umull` + `uadalp`).
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`], or the operands do not hold `out.len()` rows of `stride`
/// bytes and `x.len() <= stride` activations.
pub fn neon_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    assert!(Isa::Neon.on_cpu(), "neon_gemv_u8i8 needs NEON");
    assert!(x.len() <= stride && w.len() >= out.len() * stride, "GEMV operands cover the rows");
    from_flipped_sums(
        w,
        stride,
        x,
        out,
        // SAFETY (both): the CPU has NEON (checked just above); the driver passes four rows, or
        // one, of `stride >= body` bytes.
        |rows, body| unsafe { neon_four_rows(rows.as_ptr(), stride, x, body) },
        |row, body| unsafe { neon_one_row(row.as_ptr(), x, body) },
    );
}

/// The GEMV from flipped sums `Σ (w + 128)·x` over the first `body` columns (the multiples of 16
/// below `x.len()`): `four(rows, body)` on each group of four rows, `one(row, body)` on the rows
/// left; the `128 · Σ x` they hold too many taken off, the columns past `body` added in plain Rust.
#[inline(always)]
fn from_flipped_sums(
    w: &[i8],
    stride: usize,
    x: &[u8],
    out: &mut [i32],
    four: impl Fn(&[i8], usize) -> [u32; 4],
    one: impl Fn(&[i8], usize) -> u32,
) {
    let body = x.len() / 16 * 16;
    let correction = x[..body].iter().map(|&v| v as u32).sum::<u32>().wrapping_mul(128);
    let tail = |row: &[i8]| row[body..x.len()].iter().zip(&x[body..]).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>();
    let full = out.len() / 4 * 4;
    for (rows, outs) in w.chunks_exact(4 * stride).zip(out[..full].chunks_exact_mut(4)) {
        for ((o, s), row) in outs.iter_mut().zip(four(rows, body)).zip(rows.chunks_exact(stride)) {
            *o = s.wrapping_sub(correction) as i32 + tail(row);
        }
    }
    for (r, o) in out.iter_mut().enumerate().skip(full) {
        let row = &w[r * stride..(r + 1) * stride];
        *o = one(row, body).wrapping_sub(correction) as i32 + tail(row);
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

/// `acc += Σ (w + 128)·x` over sixteen columns, in two accumulators (the low and high eight).
#[target_feature(enable = "neon")]
#[inline]
fn neon_step(acc: &mut [uint32x4_t; 2], w: uint8x16_t, x: uint8x16_t) {
    let w = veorq_u8(w, vdupq_n_u8(0x80));
    acc[0] = vpadalq_u16(acc[0], vmull_u8(vget_low_u8(w), vget_low_u8(x)));
    acc[1] = vpadalq_u16(acc[1], vmull_high_u8(w, x));
}

/// The flipped sums `Σ (w + 128)·x` of four rows at `w` (`stride` bytes apart) over `body`
/// columns, on plain NEON.
///
/// # Safety
/// Four rows of at least `body` bytes must be readable from `w`, `stride` bytes apart.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn neon_four_rows(w: *const i8, stride: usize, x: &[u8], body: usize) -> [u32; 4] {
    let mut acc = [[vdupq_n_u32(0); 2]; 4];
    for c in (0..body).step_by(16) {
        // SAFETY: c + 16 <= body <= x.len().
        let xv = unsafe { vld1q_u8(x.as_ptr().add(c)) };
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: each row holds `body` bytes (the caller's promise), c + 16 <= body.
            neon_step(a, unsafe { vld1q_u8(w.add(r * stride + c).cast()) }, xv);
        }
    }
    acc.map(|[lo, hi]| vaddvq_u32(vaddq_u32(lo, hi)))
}

/// The flipped sum `Σ (w + 128)·x` of the lone row at `w` over `body` columns, on plain NEON.
///
/// # Safety
/// `body` bytes must be readable from `w`.
#[target_feature(enable = "neon")]
unsafe fn neon_one_row(w: *const i8, x: &[u8], body: usize) -> u32 {
    let mut acc = [vdupq_n_u32(0); 2];
    for c in (0..body).step_by(16) {
        // SAFETY: c + 16 <= body, inside `x` and the row.
        let (wv, xv) = unsafe { (vld1q_u8(w.add(c).cast()), vld1q_u8(x.as_ptr().add(c))) };
        neon_step(&mut acc, wv, xv);
    }
    vaddvq_u32(vaddq_u32(acc[0], acc[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::gemv_i8::generic_gemv_u8i8;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Straight on the kernels (the table pads `x` to the stride; here it is shorter, so the
    /// columns past the last sixteen run too), extremes included, exactly as the plain loop.
    #[test]
    fn the_kernels_equal_the_plain_loop_on_unpadded_rows() {
        let mut rng = SmallRng::seed_from_u64(9);
        let kernels: [(&str, Isa, fn(&[i8], usize, &[u8], &mut [i32])); 2] =
            [("neon", Isa::Neon, neon_gemv_u8i8), ("dotprod", Isa::Dotprod, dotprod_gemv_u8i8)];
        for (rows, cols, stride) in [(1, 0, 16), (1, 1, 1), (3, 15, 17), (4, 16, 16), (5, 17, 33), (9, 47, 48), (13, 200, 203)] {
            let w: Vec<i8> = (0..rows * stride).map(|_| [i8::MIN, i8::MAX, rng.gen()][rng.gen_range(0..3)]).collect();
            let x: Vec<u8> = (0..cols).map(|_| [0, u8::MAX, rng.gen()][rng.gen_range(0..3)]).collect();
            let mut want = vec![0; rows];
            generic_gemv_u8i8(&w, stride, &x, &mut want);
            for (name, isa, kernel) in kernels {
                if !isa.on_cpu() {
                    eprintln!("skipped {name}_gemv_u8i8: not on this CPU");
                    continue;
                }
                let mut got = vec![-1; rows];
                kernel(&w, stride, &x, &mut got);
                assert_eq!(got, want, "{name} {rows}×{cols} (stride {stride})");
            }
        }
    }
}
