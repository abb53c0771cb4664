//! The output stage on sixteen `i32` lanes: the AVX-512 twin of [`crate::quant::requantize_one`]
//! (and of the AVX2 `requantize8`), bit for bit: the same kernels' form of the single rounding,
//! with mask registers in place of blends.

use std::arch::x86_64::*;

use crate::quant::ChannelRequant;

/// `clamp(z + round_half_even(M·(acc + bias)), lo, 255)` on sixteen lanes of one channel, as `i32`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn requantize16(acc: __m512i, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> __m512i {
    let x = _mm512_add_epi32(acc, _mm512_set1_epi32(channel.bias));
    let left = channel.multiplier.left_shift();
    let x = if left > 0 { saturating_shl16(x, left) } else { x };
    let y = mul_round_half_even16(x, channel.multiplier.mantissa, channel.multiplier.right_shift());
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

/// `round_half_even(x · m / 2^(32 + r))` per lane, `m ∈ [2³⁰, 2³¹)` and `r ≤ 30`.
#[target_feature(enable = "avx512f,avx512bw")]
fn mul_round_half_even16(x: __m512i, m: i32, r: u32) -> __m512i {
    let mv = _mm512_set1_epi32(m);
    let shift = 32 + r;
    let count = _mm_cvtsi32_si128(shift as i32);
    let half = _mm512_set1_epi64((1i64 << (shift - 1)) - 1);
    let even = nudge16(_mm512_mul_epi32(x, mv), half, count); // 64-bit products of the even lanes
    let odd = nudge16(_mm512_mul_epi32(_mm512_srli_epi64::<32>(x), mv), half, count); // odd lanes
    // The high halves: the odd ones are in place, the even ones move down.
    let high = _mm512_mask_blend_epi32(0b1010_1010_1010_1010, _mm512_srli_epi64::<32>(even), odd);
    _mm512_sra_epi32(high, _mm_cvtsi32_si128(r as i32))
}

/// `p + (2^(shift−1) − 1) + (⌊p / 2^shift⌋ mod 2)`: its floor quotient is `p`'s rounded half to even.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn nudge16(p: __m512i, half: __m512i, count: __m128i) -> __m512i {
    let odd = _mm512_and_si512(_mm512_srl_epi64(p, count), _mm512_set1_epi64(1));
    _mm512_add_epi64(_mm512_add_epi64(p, half), odd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conformance_i8::check_stage_lanes;

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
        // SAFETY: AVX-512 F and BW were detected above.
        check_stage_lanes::<16>(16, 5_000, |acc, channel, zp, lo| unsafe { lanes(acc, channel, zp, lo) });
    }
}
