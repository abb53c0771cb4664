//! The output stage on sixteen `i32` lanes: the AVX-512 twin of [`crate::quant::requantize_one`]
//! (and of the AVX2 `requantize8`), bit for bit, with mask registers in place of blends.

use std::arch::x86_64::*;

use crate::quant::ChannelRequant;

/// `clamp(z + M·(acc + bias), lo, 255)` on sixteen lanes of one channel, as `i32`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn requantize16(acc: __m512i, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> __m512i {
    let x = _mm512_add_epi32(acc, _mm512_set1_epi32(channel.bias));
    let left = channel.multiplier.left_shift();
    let x = if left > 0 { saturating_shl16(x, left) } else { x };
    let y = rounding_doubling_high_mul16(x, channel.multiplier.mantissa);
    let y = rounding_divide_by_pot16(y, channel.multiplier.right_shift());
    let z = zero_point as i32;
    let y = _mm512_min_epi32(y, _mm512_set1_epi32(u8::MAX as i32 - z));
    let y = _mm512_max_epi32(y, _mm512_set1_epi32(clamp_min as i32 - z));
    _mm512_add_epi32(y, _mm512_set1_epi32(z))
}

/// `x · 2^shift` saturated to `i32`.
#[target_feature(enable = "avx512f,avx512bw")]
fn saturating_shl16(x: __m512i, shift: u32) -> __m512i {
    let count = _mm_cvtsi32_si128(shift as i32);
    let shifted = _mm512_sll_epi32(x, count);
    let fits = _mm512_cmpeq_epi32_mask(_mm512_sra_epi32(shifted, count), x);
    // i32::MAX for x ≥ 0, i32::MIN for x < 0.
    let saturated = _mm512_xor_si512(_mm512_srai_epi32::<31>(x), _mm512_set1_epi32(i32::MAX));
    _mm512_mask_blend_epi32(fits, saturated, shifted)
}

/// High 32 bits of `2·x·m`, rounded half away from zero; `m ∈ [2³⁰, 2³¹)` as every mantissa is.
#[target_feature(enable = "avx512f,avx512bw")]
fn rounding_doubling_high_mul16(x: __m512i, m: i32) -> __m512i {
    let mv = _mm512_set1_epi32(m);
    let even = high_half_rounded(_mm512_mul_epi32(x, mv)); // 64-bit products of the even lanes
    let odd = high_half_rounded(_mm512_mul_epi32(_mm512_srli_epi64::<32>(x), mv)); // odd lanes
    // Results sit in bits 31..62: a 31-bit shift puts the even ones in the low dword, a 1-bit
    // shift the odd ones in the high dword.
    _mm512_mask_blend_epi32(0b1010_1010_1010_1010, _mm512_srli_epi64::<31>(even), _mm512_slli_epi64::<1>(odd))
}

/// `p + nudge`, prepared so that a shift by 31 truncates toward zero.
#[target_feature(enable = "avx512f,avx512bw")]
fn high_half_rounded(p: __m512i) -> __m512i {
    let zero = _mm512_setzero_si512();
    let negative = _mm512_cmplt_epi64_mask(p, zero);
    let nudge = _mm512_mask_blend_epi64(negative, _mm512_set1_epi64(1 << 30), _mm512_set1_epi64(1 - (1 << 30)));
    let q = _mm512_add_epi64(p, nudge);
    // Truncation toward zero: a negative dividend gets 2³¹ − 1 added before the shift.
    let q_negative = _mm512_cmplt_epi64_mask(q, zero);
    _mm512_mask_add_epi64(q, q_negative, q, _mm512_set1_epi64((1 << 31) - 1))
}

/// `x / 2^exponent` rounded half away from zero.
#[target_feature(enable = "avx512f,avx512bw")]
fn rounding_divide_by_pot16(x: __m512i, exponent: u32) -> __m512i {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = _mm512_and_si512(x, _mm512_set1_epi32(mask));
    let half = _mm512_set1_epi32(mask >> 1);
    let one = _mm512_set1_epi32(1);
    let threshold = _mm512_mask_add_epi32(half, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), half, one);
    let shifted = _mm512_sra_epi32(x, _mm_cvtsi32_si128(exponent as i32));
    _mm512_mask_add_epi32(shifted, _mm512_cmpgt_epi32_mask(remainder, threshold), shifted, one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::x86_64::requantize::tests::stage_cases;
    use crate::quant::requantize_one;

    #[target_feature(enable = "avx512f,avx512bw")]
    fn lanes(acc: [i32; 16], channel: &ChannelRequant, zp: u8, lo: u8) -> [i32; 16] {
        // SAFETY: [i32; 16] and __m512i have the same size; loadu/storeu have no alignment needs.
        unsafe {
            let v = requantize16(_mm512_loadu_si512(acc.as_ptr().cast()), channel, zp, lo);
            let mut out = [0i32; 16];
            _mm512_storeu_si512(out.as_mut_ptr().cast(), v);
            out
        }
    }

    #[test]
    fn equals_the_scalar_stage_bit_for_bit() {
        if !crate::kernels::isa::Isa::Avx512.enabled() {
            eprintln!("skipped: AVX-512 not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        for (channel, zp, lo, acc) in stage_cases::<16>(16) {
            // SAFETY: AVX-512 F and BW were detected above.
            let got = unsafe { lanes(acc, &channel, zp, lo) };
            for (i, &a) in acc.iter().enumerate() {
                assert_eq!(got[i], requantize_one(&channel, zp, lo, a) as i32, "acc {a} {channel:?} zp {zp} lo {lo}");
            }
        }
    }
}
