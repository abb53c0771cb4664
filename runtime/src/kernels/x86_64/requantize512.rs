//! The output stage on sixteen `i32` lanes: the AVX-512 twin of [`crate::quant::requantize_one`]
//! (and of the AVX2 `requantize8`), bit for bit: the same kernels' form of the single rounding,
//! with mask registers in place of blends.

use std::arch::x86_64::*;

use crate::kernels::types::LaneStages16;
use crate::quant::ChannelRequant;

/// `clamp(z + round_half_even(M·(acc + bias)), lo, 255)` on sixteen lanes of one channel, as `i32`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn requantize16(acc: __m512i, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> __m512i {
    let x = _mm512_add_epi32(acc, _mm512_set1_epi32(channel.bias));
    let left = channel.multiplier.left_shift();
    let x = if left > 0 { saturating_shl16(x, left) } else { x };
    let y = mul_round_half_even16(x, channel.multiplier.mantissa, channel.multiplier.right_shift());
    onto_grid16(y, zero_point, clamp_min)
}

/// [`requantize16`] with a channel per lane ([`LaneStages16`]): the same steps with per-lane shift
/// counts, so each lane equals [`crate::quant::requantize_one`] of its channel.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
pub(crate) fn requantize16_lanes(acc: __m512i, lanes: &LaneStages16, zero_point: u8, clamp_min: u8) -> __m512i {
    // SAFETY: `LaneStages16` is 64-byte aligned and each of its arrays is 64 bytes at a multiple of 64.
    let (bias, mantissa, shift_even, shift_odd, half_even, half_odd) = unsafe {
        (
            _mm512_load_si512(lanes.bias.as_ptr().cast()),
            _mm512_load_si512(lanes.mantissa.as_ptr().cast()),
            _mm512_load_si512(lanes.count[0].as_ptr().cast()),
            _mm512_load_si512(lanes.count[1].as_ptr().cast()),
            _mm512_load_si512(lanes.half[0].as_ptr().cast()),
            _mm512_load_si512(lanes.half[1].as_ptr().cast()),
        )
    };
    let mut x = _mm512_add_epi32(acc, bias);
    if lanes.shifts_left {
        // SAFETY: as above.
        let left = unsafe { _mm512_load_si512(lanes.left.as_ptr().cast()) };
        // Saturating left shift, per lane (a count of 0 leaves the lane as it is).
        let shifted = _mm512_sllv_epi32(x, left);
        let fits = _mm512_cmpeq_epi32_mask(_mm512_srav_epi32(shifted, left), x);
        let saturated = _mm512_xor_si512(_mm512_srai_epi32::<31>(x), _mm512_set1_epi32(i32::MAX));
        x = _mm512_mask_blend_epi32(fits, saturated, shifted);
    }
    // round_half_even(x · m / 2^(32 + r)) on the even lanes, then on the odd ones moved down.
    let even = round_lanes(_mm512_mul_epi32(x, mantissa), shift_even, half_even);
    let odd = round_lanes(_mm512_mul_epi32(_mm512_srli_epi64::<32>(x), _mm512_srli_epi64::<32>(mantissa)), shift_odd, half_odd);
    let y = _mm512_mask_blend_epi32(0b1010_1010_1010_1010, even, _mm512_slli_epi64::<32>(odd));
    onto_grid16(y, zero_point, clamp_min)
}

/// `clamp(z + y, lo, 255)`, as `clamp(y, lo − z, 255 − z) + z` (no overflow for any `y`).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn onto_grid16(y: __m512i, zero_point: u8, clamp_min: u8) -> __m512i {
    let z = zero_point as i32;
    let y = _mm512_min_epi32(y, _mm512_set1_epi32(u8::MAX as i32 - z));
    let y = _mm512_max_epi32(y, _mm512_set1_epi32(clamp_min as i32 - z));
    _mm512_add_epi32(y, _mm512_set1_epi32(z))
}

/// `(p + half + bit_shift(p)) >> shift` per 64-bit lane: `p / 2^shift` rounded half to even, with
/// `half = 2^(shift − 1) − 1`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn round_lanes(p: __m512i, shift: __m512i, half: __m512i) -> __m512i {
    let odd = _mm512_and_si512(_mm512_srlv_epi64(p, shift), _mm512_set1_epi64(1));
    _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(p, half), odd), shift)
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

    #[target_feature(enable = "avx512f,avx512bw")]
    fn lanes_of(acc: [i32; 16], stage: &LaneStages16, zp: u8, lo: u8) -> [i32; 16] {
        // SAFETY: as in `lanes`.
        unsafe {
            let v = requantize16_lanes(_mm512_loadu_si512(acc.as_ptr().cast()), stage, zp, lo);
            let mut out = [0i32; 16];
            _mm512_storeu_si512(out.as_mut_ptr().cast(), v);
            out
        }
    }

    /// One channel in every lane: the stage's own checks (extremes, ties, every shift).
    #[test]
    fn lanes_of_one_channel_equal_the_scalar_stage() {
        if !crate::kernels::isa::Isa::Avx512.enabled() {
            eprintln!("skipped: AVX-512 not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        // SAFETY: AVX-512 F and BW were detected above.
        check_stage_lanes::<16>(17, 5_000, |acc, channel, zp, lo| unsafe { lanes_of(acc, &LaneStages16::new(&[*channel; 16]), zp, lo) });
    }

    /// Sixteen different channels: every lane follows its own multiplier, shift and bias.
    #[test]
    fn each_lane_follows_its_own_channel() {
        use crate::quant::{requantize_one, FixedPointMultiplier};
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        if !crate::kernels::isa::Isa::Avx512.enabled() {
            eprintln!("skipped: AVX-512 not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(18);
        for case in 0..3_000 {
            let channels: Vec<ChannelRequant> = (0..16)
                .map(|_| {
                    let real = 2f64.powf(rng.gen_range(-31.0..20.0));
                    let multiplier = FixedPointMultiplier::from_real(real).unwrap_or(FixedPointMultiplier { mantissa: 1 << 30, exponent: 0 });
                    ChannelRequant { multiplier, bias: if case % 5 == 0 { rng.gen() } else { rng.gen_range(-5_000..5_000) } }
                })
                .collect();
            let (zp, lo): (u8, u8) = (rng.gen(), rng.gen());
            let lo = lo.min(zp);
            let acc: [i32; 16] = std::array::from_fn(|_| if case % 3 == 0 { rng.gen() } else { rng.gen_range(-200_000..200_000) });
            let n = if case % 4 == 0 { rng.gen_range(1..16) } else { 16 };
            // SAFETY: AVX-512 F and BW were detected above.
            let got = unsafe { lanes_of(acc, &LaneStages16::new(&channels[..n]), zp, lo) };
            for (i, (&g, &a)) in got.iter().zip(&acc).enumerate().take(n) {
                assert_eq!(g, requantize_one(&channels[i], zp, lo, a) as i32, "lane {i}, acc {a}, {:?}", channels[i]);
            }
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
