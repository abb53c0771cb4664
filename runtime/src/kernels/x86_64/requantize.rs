//! The output stage on eight `i32` lanes: the AVX2 twin of [`crate::quant::requantize_one`],
//! bit for bit.

use std::arch::x86_64::*;

use crate::quant::ChannelRequant;

/// `clamp(z + M·(acc + bias), lo, 255)` on eight lanes of one channel, as `i32`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn requantize8(acc: __m256i, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> __m256i {
    let x = _mm256_add_epi32(acc, _mm256_set1_epi32(channel.bias));
    let left = channel.multiplier.left_shift();
    let x = if left > 0 { saturating_shl8(x, left) } else { x };
    let y = rounding_doubling_high_mul8(x, channel.multiplier.mantissa);
    let y = rounding_divide_by_pot8(y, channel.multiplier.right_shift());
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

/// High 32 bits of `2·x·m`, rounded half away from zero. `m ∈ [2³⁰, 2³¹)`, as every
/// [`crate::quant::FixedPointMultiplier`] mantissa is, so the `MIN·MIN` saturation cannot occur.
#[target_feature(enable = "avx2,fma")]
fn rounding_doubling_high_mul8(x: __m256i, m: i32) -> __m256i {
    let mv = _mm256_set1_epi32(m);
    let even = _mm256_mul_epi32(x, mv); // 64-bit products of lanes 0, 2, 4, 6
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), mv); // lanes 1, 3, 5, 7
    let even = high_half_rounded(even);
    let odd = high_half_rounded(odd);
    // Even results sit in bits 31..62, i.e. after a 31-bit shift in the low dword; odd ones are
    // moved up by one bit into the high dword.
    _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<31>(even), _mm256_slli_epi64::<1>(odd))
}

/// `(p + nudge)` then the truncating division by 2³¹ prepared so that bits 31..62 hold the result.
#[target_feature(enable = "avx2,fma")]
fn high_half_rounded(p: __m256i) -> __m256i {
    let zero = _mm256_setzero_si256();
    let negative = _mm256_cmpgt_epi64(zero, p);
    let nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1 << 30), _mm256_set1_epi64x(1 - (1 << 30)), negative);
    let q = _mm256_add_epi64(p, nudge);
    // Truncation toward zero: a negative dividend gets 2³¹ − 1 added before the shift.
    let q_negative = _mm256_cmpgt_epi64(zero, q);
    _mm256_add_epi64(q, _mm256_and_si256(q_negative, _mm256_set1_epi64x((1 << 31) - 1)))
}

/// `x / 2^exponent` rounded half away from zero.
#[target_feature(enable = "avx2,fma")]
fn rounding_divide_by_pot8(x: __m256i, exponent: u32) -> __m256i {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = _mm256_and_si256(x, _mm256_set1_epi32(mask));
    // cmpgt yields −1 where true: subtracting it adds 1.
    let threshold = _mm256_sub_epi32(_mm256_set1_epi32(mask >> 1), _mm256_cmpgt_epi32(_mm256_setzero_si256(), x));
    let shifted = _mm256_sra_epi32(x, _mm_cvtsi32_si128(exponent as i32));
    _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(remainder, threshold))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::quant::{requantize_one, FixedPointMultiplier};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Random output stages (multipliers from 2⁻³¹ to 2²⁰, zero points, ReLU floors) with `N`
    /// accumulators each, a third of them at the `i32` extremes; shared by every SIMD stage's test.
    pub(in crate::kernels::x86_64) fn stage_cases<const N: usize>(seed: u64) -> Vec<(ChannelRequant, u8, u8, [i32; N])> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
        let mut cases = Vec::new();
        for case in 0..5_000 {
            let real = 2f64.powf(rng.gen_range(-31.0..20.0));
            let Ok(multiplier) = FixedPointMultiplier::from_real(real) else { continue };
            let channel = ChannelRequant { multiplier, bias: if case % 7 == 0 { 0 } else { rng.gen() } };
            let (zp, lo): (u8, u8) = (rng.gen(), if rng.gen() { 0 } else { rng.gen() });
            let acc: [i32; N] = std::array::from_fn(|i| match rng.gen_range(0..4) {
                0 => extremes[i % extremes.len()],
                1 => rng.gen(),
                _ => rng.gen_range(-100_000..100_000),
            });
            cases.push((channel, zp, lo.min(zp), acc));
        }
        cases
    }

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
        for (channel, zp, lo, acc) in stage_cases::<8>(8) {
            // SAFETY: AVX2 and FMA were detected above.
            let got = unsafe { lanes(acc, &channel, zp, lo) };
            for (i, &a) in acc.iter().enumerate() {
                assert_eq!(got[i], requantize_one(&channel, zp, lo, a) as i32, "acc {a} {channel:?} zp {zp} lo {lo}");
            }
        }
    }
}
