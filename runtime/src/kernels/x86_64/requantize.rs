//! The output stage on eight `i32` lanes: the AVX2 twin of [`crate::quant::requantize_one`],
//! bit for bit.
//!
//! The product `x · M` is rounded once, half to even, in the kernels' form of
//! [`crate::quant::FixedPointMultiplier`]: `x` shifted left (saturating) by `l`, the exact 64-bit
//! products `x · mantissa` of the even and the odd lanes (`vpmuldq`), `2^(31+r) − 1` plus the parity
//! bit of the quotient added, and the quotient by `2^(32+r)` taken as the high half of each product
//! then a 32-bit arithmetic shift by `r` (AVX2 has no 64-bit arithmetic shift; the 64-bit logical
//! shift only extracts the parity bit).

use std::arch::x86_64::*;

use crate::kernels::types::LaneStages8;
use crate::quant::ChannelRequant;

/// `clamp(z + round_half_even(M·(acc + bias)), lo, 255)` on eight lanes of one channel, as `i32`.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn requantize8(acc: __m256i, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> __m256i {
    let x = _mm256_add_epi32(acc, _mm256_set1_epi32(channel.bias));
    let left = channel.multiplier.left_shift();
    let x = if left > 0 { saturating_shl8(x, left) } else { x };
    let y = mul_round_half_even8(x, channel.multiplier.mantissa, channel.multiplier.right_shift());
    let z = zero_point as i32;
    let y = _mm256_min_epi32(y, _mm256_set1_epi32(u8::MAX as i32 - z));
    let y = _mm256_max_epi32(y, _mm256_set1_epi32(clamp_min as i32 - z));
    _mm256_add_epi32(y, _mm256_set1_epi32(z))
}

/// `x · 2^shift` saturated to `i32`.
#[target_feature(enable = "avx2,fma")]
fn saturating_shl8(x: __m256i, shift: u32) -> __m256i {
    let count = _mm_cvtsi32_si128(shift as i32);
    let shifted = _mm256_sll_epi32(x, count);
    let fits = _mm256_cmpeq_epi32(_mm256_sra_epi32(shifted, count), x);
    // i32::MAX for x ≥ 0, i32::MIN for x < 0.
    let saturated = _mm256_xor_si256(_mm256_srai_epi32::<31>(x), _mm256_set1_epi32(i32::MAX));
    _mm256_blendv_epi8(saturated, shifted, fits)
}

/// `round_half_even(x · m / 2^(32 + r))` per lane, `m ∈ [2³⁰, 2³¹)` and `r ≤ 30`: the products are
/// below `2⁶²` in magnitude, the quotients fit `i32`.
#[target_feature(enable = "avx2,fma")]
fn mul_round_half_even8(x: __m256i, m: i32, r: u32) -> __m256i {
    let mv = _mm256_set1_epi32(m);
    let shift = 32 + r;
    let count = _mm_cvtsi32_si128(shift as i32);
    let half = _mm256_set1_epi64x((1i64 << (shift - 1)) - 1);
    let even = nudge8(_mm256_mul_epi32(x, mv), half, count); // 64-bit products of lanes 0, 2, 4, 6
    let odd = nudge8(_mm256_mul_epi32(_mm256_srli_epi64::<32>(x), mv), half, count); // lanes 1, 3, 5, 7
    // The high halves: ⌊q / 2³²⌋; the odd ones are in place, the even ones move down.
    let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    _mm256_sra_epi32(high, _mm_cvtsi32_si128(r as i32))
}

/// `p + (2^(shift−1) − 1) + (⌊p / 2^shift⌋ mod 2)` on four `i64` lanes (`half` the constant, `count`
/// the shift): its floor quotient by `2^shift` is `p`'s rounded half to even. The parity bit is the
/// same in a logical shift.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn nudge8(p: __m256i, half: __m256i, count: __m128i) -> __m256i {
    let odd = _mm256_and_si256(_mm256_srl_epi64(p, count), _mm256_set1_epi64x(1));
    _mm256_add_epi64(_mm256_add_epi64(p, half), odd)
}

/// [`requantize8`] with each lane its own channel's stage: `clamp(z + round_half_even(M_l·(acc_l +
/// bias_l)), lo, 255)` as `i32`, bit for bit [`crate::quant::requantize_one`].
#[target_feature(enable = "avx2,fma")]
pub(crate) fn requantize8_lanes(acc: __m256i, s: &LaneStages8, zero_point: u8, clamp_min: u8) -> __m256i {
    let load = |v: &[i32; 8]| {
        // SAFETY: eight i32 are one unaligned 256-bit load.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    };
    let load64 = |v: &[i64; 4]| {
        // SAFETY: four i64 are one unaligned 256-bit load.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    };
    let x = _mm256_add_epi32(acc, load(&s.bias));
    // Saturating left shift, lane by lane.
    let left = load(&s.left);
    let shifted = _mm256_sllv_epi32(x, left);
    let fits = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), x);
    let saturated = _mm256_xor_si256(_mm256_srai_epi32::<31>(x), _mm256_set1_epi32(i32::MAX));
    let x = _mm256_blendv_epi8(saturated, shifted, fits);
    // round_half_even(x · m / 2^(32 + r)), as in `mul_round_half_even8` with per-lane shifts.
    let m = load(&s.mantissa);
    let nudge = |p: __m256i, odd: usize| {
        let count = load64(&s.count[odd]);
        let parity = _mm256_and_si256(_mm256_srlv_epi64(p, count), _mm256_set1_epi64x(1));
        _mm256_add_epi64(_mm256_add_epi64(p, load64(&s.half[odd])), parity)
    };
    let even = nudge(_mm256_mul_epi32(x, m), 0);
    let odd = nudge(_mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m)), 1);
    let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    let y = _mm256_srav_epi32(high, load(&s.right));
    let z = zero_point as i32;
    let y = _mm256_min_epi32(y, _mm256_set1_epi32(u8::MAX as i32 - z));
    let y = _mm256_max_epi32(y, _mm256_set1_epi32(clamp_min as i32 - z));
    _mm256_add_epi32(y, _mm256_set1_epi32(z))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conformance_i8::check_stage_lanes;
    use crate::quant::requantize_one;

    #[target_feature(enable = "avx2,fma")]
    fn lanes(acc: [i32; 8], channel: &ChannelRequant, zp: u8, lo: u8) -> [i32; 8] {
        // SAFETY: [i32; 8] and __m256i have the same size; loadu/storeu have no alignment needs.
        unsafe {
            let v = requantize8(_mm256_loadu_si256(acc.as_ptr().cast()), channel, zp, lo);
            let mut out = [0i32; 8];
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
            out
        }
    }

    #[test]
    fn equals_the_scalar_stage_bit_for_bit() {
        if !crate::kernels::isa::Isa::Avx2.enabled() {
            eprintln!("skipped: AVX2/FMA not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        // SAFETY: AVX2 and FMA were detected above.
        check_stage_lanes::<8>(8, 5_000, |acc, channel, zp, lo| unsafe { lanes(acc, channel, zp, lo) });
    }

    #[target_feature(enable = "avx2,fma")]
    fn per_lane(acc: [i32; 8], stages: &LaneStages8, zp: u8, lo: u8) -> [i32; 8] {
        // SAFETY: [i32; 8] and __m256i have the same size; loadu/storeu have no alignment needs.
        unsafe {
            let v = requantize8_lanes(_mm256_loadu_si256(acc.as_ptr().cast()), stages, zp, lo);
            let mut out = [0i32; 8];
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
            out
        }
    }

    /// With one channel in every lane: the shared conformance check (ties, extremes, shifts).
    #[test]
    fn lanes_of_one_channel_equal_the_scalar_stage() {
        if !crate::kernels::isa::Isa::Avx2.enabled() {
            eprintln!("skipped: AVX2/FMA not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        // SAFETY: AVX2 and FMA were detected above.
        check_stage_lanes::<8>(18, 5_000, |acc, channel, zp, lo| unsafe { per_lane(acc, &LaneStages8::new(&[*channel; 8]), zp, lo) });
    }

    /// Eight different channels (left and right shifts, biases) in the eight lanes give each
    /// channel's scalar stage.
    #[test]
    fn lanes_of_different_channels_equal_the_scalar_stage() {
        if !crate::kernels::isa::Isa::Avx2.enabled() {
            eprintln!("skipped: AVX2/FMA not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        let reals = [3e-9, 1.5e-4, 0.0123, 0.5, 0.75, 3.0, 1000.0, 2e5];
        let channels: Vec<ChannelRequant> = reals
            .iter()
            .enumerate()
            .map(|(i, &r)| ChannelRequant { multiplier: crate::quant::FixedPointMultiplier::from_real(r).unwrap(), bias: (i as i32 - 4) * 37 })
            .collect();
        let stages = LaneStages8::new(&channels);
        let mut state = 1u64;
        for _ in 0..20_000 {
            let acc: [i32; 8] = std::array::from_fn(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 32) as i32 >> (state % 24)
            });
            let (zp, lo) = ((state >> 8) as u8, (state >> 16) as u8 & 0x3f);
            // SAFETY: AVX2 and FMA were detected above.
            let got = unsafe { per_lane(acc, &stages, zp, lo.min(zp)) };
            for (l, c) in channels.iter().enumerate() {
                assert_eq!(got[l], requantize_one(c, zp, lo.min(zp), acc[l]) as i32, "lane {l}: acc {} {c:?} zp {zp}", acc[l]);
            }
        }
    }
}
