//! 2×2 stride-2 max pooling of whole row pairs, on `f32` and `u8` maps: the inference plans' pool,
//! with an AVX-512 kernel (sixteen `f32` or thirty-two `u8` outputs per step) chosen at run time and
//! [`max_pool_2x2_portable`], the plain twin the tests compare it with.
//!
//! Each output is `(t₀ ⊔ t₁) ⊔ (b₀ ⊔ b₁)` over its window's top and bottom pairs, where `a ⊔ b` is
//! `b` when `b > a`, else `a`, and NaN when either is (the model's max pool). The SIMD kernels
//! keep that order, so signed zeros and NaNs come out as the plain loop's.
//!
//! ```
//! use fasterai_runtime::kernels::max_pool_2x2;
//! let rows = [1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0f32]; // two rows of four
//! let mut out = [0.0; 2];
//! max_pool_2x2(&rows, 4, &mut out);
//! assert_eq!(out, [5.0, 9.0]);
//! ```

use crate::ops::pool2d::max_keeping_nan;

/// A 2×2 pooling kernel: row pairs of the given width in, one output row per pair out.
pub type PoolFn<T> = fn(&[T], usize, &mut [T]);

/// A map value the 2×2 pool compares.
pub trait PoolValue: Copy + sealed::Sealed {
    /// `a ⊔ b`: the larger value, the first on ties; for `f32`, NaN when either is NaN.
    fn larger(self, other: Self) -> Self;

    /// The fastest kernel this CPU runs for the type, if any beats the plain loop.
    #[doc(hidden)]
    fn simd() -> Option<PoolFn<Self>>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
}

impl PoolValue for f32 {
    #[inline(always)]
    fn larger(self, other: Self) -> Self {
        max_keeping_nan(self, other)
    }

    fn simd() -> Option<PoolFn<Self>> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected just above.
            return Some(|rows, width, out| unsafe { avx512::pool_f32(rows, width, out) });
        }
        None
    }
}

impl PoolValue for u8 {
    #[inline(always)]
    fn larger(self, other: Self) -> Self {
        self.max(other)
    }

    fn simd() -> Option<PoolFn<Self>> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vl") {
            // SAFETY: AVX-512 F, BW and VL were detected just above.
            return Some(|rows, width, out| unsafe { avx512::pool_u8(rows, width, out) });
        }
        None
    }
}

/// Pools `rows` (row pairs of `width` values; an odd last column is dropped) into `out`, one output
/// row of `width / 2` values per pair, with the fastest kernel the CPU runs.
///
/// # Panics
/// When `rows` does not hold `out.len() / (width / 2)` row pairs.
pub fn max_pool_2x2<T: PoolValue>(rows: &[T], width: usize, out: &mut [T]) {
    check(rows, width, out);
    match T::simd() {
        Some(kernel) => kernel(rows, width, out),
        None => max_pool_2x2_portable(rows, width, out),
    }
}

/// [`max_pool_2x2`] as a plain loop.
pub fn max_pool_2x2_portable<T: PoolValue>(rows: &[T], width: usize, out: &mut [T]) {
    check(rows, width, out);
    let ow = width / 2;
    if ow == 0 {
        return;
    }
    for (pair, out_row) in rows.chunks_exact(2 * width).zip(out.chunks_exact_mut(ow)) {
        let (top, bottom) = pair.split_at(width);
        for ((o, t), b) in out_row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
            *o = t[0].larger(t[1]).larger(b[0].larger(b[1]));
        }
    }
}

fn check<T>(rows: &[T], width: usize, out: &[T]) {
    let ow = width / 2;
    // Rows of one value pool into nothing.
    let pairs = out.len().checked_div(ow).unwrap_or(rows.len() / (2 * width).max(1));
    assert!(out.len() == pairs * ow && rows.len() == pairs * 2 * width, "{} values pool into {} outputs of rows of {width}", rows.len(), out.len());
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

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
    pub(super) unsafe fn pool_f32(rows: &[f32], width: usize, out: &mut [f32]) {
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
    pub(super) unsafe fn pool_u8(rows: &[u8], width: usize, out: &mut [u8]) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// The SIMD kernels equal the plain loop on odd widths, tails past a vector, NaNs and signed zeros.
    #[test]
    fn the_simd_kernels_equal_the_plain_loop() {
        let mut rng = SmallRng::seed_from_u64(4);
        for width in [1, 2, 3, 7, 14, 15, 28, 33, 64, 65, 130] {
            for pairs in [1, 3] {
                let ow = width / 2;
                let specials = [f32::NAN, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY];
                let xf: Vec<f32> = (0..2 * pairs * width)
                    .map(|_| if rng.gen_bool(0.2) { specials[rng.gen_range(0..specials.len())] } else { rng.gen_range(-2.0..2.0) })
                    .collect();
                let xq: Vec<u8> = (0..2 * pairs * width).map(|_| rng.gen()).collect();
                let (mut want_f, mut got_f) = (vec![0.0; pairs * ow], vec![1.0; pairs * ow]);
                max_pool_2x2_portable(&xf, width, &mut want_f);
                max_pool_2x2(&xf, width, &mut got_f);
                let bits = |v: &[f32]| v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect::<Vec<_>>();
                assert_eq!(bits(&got_f), bits(&want_f), "f32, width {width}, {pairs} pairs");
                let (mut want_q, mut got_q) = (vec![0u8; pairs * ow], vec![1u8; pairs * ow]);
                max_pool_2x2_portable(&xq, width, &mut want_q);
                max_pool_2x2(&xq, width, &mut got_q);
                assert_eq!(got_q, want_q, "u8, width {width}, {pairs} pairs");
            }
        }
    }

    #[test]
    fn the_plain_loop_pools_each_window() {
        // Two rows of six: windows (1, 2 | 7, 8), (3, 4 | 9, 0), (5, 6 | 1, 2).
        let rows = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2];
        let mut out = [0u8; 3];
        max_pool_2x2_portable(&rows, 6, &mut out);
        assert_eq!(out, [8, 9, 6]);
    }

    #[test]
    #[should_panic(expected = "pool into")]
    fn mismatched_lengths_panic() {
        max_pool_2x2(&[0.0f32; 6], 4, &mut [0.0; 2]);
    }
}
