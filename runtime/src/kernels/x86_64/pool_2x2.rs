//! The 2×2 stride-2 max pool on AVX-512: sixteen `f32` or thirty-two `u8` outputs per step, the
//! fast twins of [`generic_pool_2x2`](crate::kernels::generic::pool_2x2::generic_pool_2x2) (same
//! order of comparisons, so signed zeros and NaNs come out as the plain loop's).

use std::arch::x86_64::*;

use crate::kernels::isa::Isa;
use crate::kernels::pool::value::check_2x2;

/// Lanes `0..n` of a 16-bit or 32-bit mask.
fn lanes(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// `a ⊔ b` on sixteen lanes: `b` where `b > a`, else `a`; `a + b` (NaN) where either is NaN.
#[target_feature(enable = "avx512f")]
fn larger(a: __m512, b: __m512) -> __m512 {
    let picked = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a), a, b);
    _mm512_mask_add_ps(picked, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b), a, b)
}

/// Sixteen outputs' column pairs `t₀ ⊔ t₁` from the thirty-two values at `p` (lanes past
/// `2·n` not read).
///
/// # Safety
/// `p` must point at `min(2·n, 32)` readable values.
#[target_feature(enable = "avx512f")]
unsafe fn pairs(p: *const f32, n: usize) -> __m512 {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mask = lanes(2 * n);
    // SAFETY: masked-off lanes are not read; the caller vouches for the others.
    let (lo, hi) = unsafe { (_mm512_maskz_loadu_ps(mask as __mmask16, p), _mm512_maskz_loadu_ps((mask >> 16) as __mmask16, p.add(16))) };
    larger(_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi))
}

/// # Safety
/// AVX-512F must be available; the slices are checked by the caller.
#[target_feature(enable = "avx512f")]
unsafe fn pool_f32(rows: &[f32], width: usize, out: &mut [f32]) {
    let ow = width / 2;
    if ow == 0 {
        return;
    }
    for (pair, out_row) in rows.chunks_exact(2 * width).zip(out.chunks_exact_mut(ow)) {
        for j in (0..ow).step_by(16) {
            let n = (ow - j).min(16);
            // SAFETY: outputs j..j + n read columns 2j..2j + 2n of both rows, inside the pair.
            unsafe {
                let top = pairs(pair.as_ptr().add(2 * j), n);
                let bottom = pairs(pair.as_ptr().add(width + 2 * j), n);
                _mm512_mask_storeu_ps(out_row.as_mut_ptr().add(j), lanes(n) as __mmask16, larger(top, bottom));
            }
        }
    }
}

/// # Safety
/// AVX-512 F, BW and VL must be available; the slices are checked by the caller.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pool_u8(rows: &[u8], width: usize, out: &mut [u8]) {
    let ow = width / 2;
    if ow == 0 {
        return;
    }
    // Per 16-bit lane, the larger of its two bytes lands in the low byte.
    let pairs = |p: *const u8, n: usize| {
        // SAFETY: masked-off bytes are not read; the caller reads 2·n bytes from `p`.
        let v = unsafe { _mm512_maskz_loadu_epi8(lanes(2 * n), p.cast()) };
        _mm512_max_epu8(v, _mm512_srli_epi16::<8>(v))
    };
    for (pair, out_row) in rows.chunks_exact(2 * width).zip(out.chunks_exact_mut(ow)) {
        for j in (0..ow).step_by(32) {
            let n = (ow - j).min(32);
            // SAFETY: outputs j..j + n read columns 2j..2j + 2n of both rows, inside the pair,
            // and write n bytes from out_row[j].
            unsafe {
                let both = _mm512_max_epu8(pairs(pair.as_ptr().add(2 * j), n), pairs(pair.as_ptr().add(width + 2 * j), n));
                _mm256_mask_storeu_epi8(out_row.as_mut_ptr().add(j).cast(), lanes(n) as __mmask32, _mm512_cvtepi16_epi8(both));
            }
        }
    }
}

/// The 2×2 pool of `f32` row pairs on AVX-512F.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx512`], or `rows` does not hold `out.len() / (width / 2)` row pairs.
pub fn avx512_pool_2x2_f32(rows: &[f32], width: usize, out: &mut [f32]) {
    check_2x2(rows, width, out);
    assert!(Isa::Avx512.on_cpu(), "avx512_pool_2x2_f32 needs AVX-512");
    // SAFETY: the CPU has AVX-512 F/BW/VL (checked just above); the slices are checked.
    unsafe { pool_f32(rows, width, out) }
}

/// The 2×2 pool of `u8` row pairs on AVX-512 F/BW/VL.
///
/// # Panics
/// As [`avx512_pool_2x2_f32`].
pub fn avx512_pool_2x2_u8(rows: &[u8], width: usize, out: &mut [u8]) {
    check_2x2(rows, width, out);
    assert!(Isa::Avx512.on_cpu(), "avx512_pool_2x2_u8 needs AVX-512");
    // SAFETY: the CPU has AVX-512 F/BW/VL (checked just above); the slices are checked.
    unsafe { pool_u8(rows, width, out) }
}
