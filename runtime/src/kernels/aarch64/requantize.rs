//! The output stage on four `i32` lanes: the NEON twin of [`crate::quant::requantize_one`], bit
//! for bit, and the store of a requantized `6 × 16` tile.
//!
//! NEON has 64-bit lanes with arithmetic and rounding shifts, so it computes the reference's
//! formula directly: the exact products `x · mantissa` (`smull`, `smull2`), rounded half to even by
//! `2^(31 − exponent)` (`srshl` rounds ties up, so `p − 1 + parity` is shifted, the parity being that
//! of the floor quotient), and narrowed to `i32` with saturation (`sqxtn`), as the reference saturates.

use std::arch::aarch64::*;

use crate::kernels::types::{TileStage, MR, NR};
use crate::quant::ChannelRequant;

/// `clamp(z + round_half_even(M·(acc + bias)), lo, 255)` on four lanes of one channel, as `i32`.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn requantize4(acc: int32x4_t, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> int32x4_t {
    let m = channel.multiplier;
    let x = vaddq_s32(acc, vdupq_n_s32(channel.bias));
    let mv = vdupq_n_s32(m.mantissa);
    // The shift 31 − exponent is in 1..=62, negated for the shifts by register.
    let right = vdupq_n_s64(m.exponent as i64 - 31);
    let lo = round_half_even2(vmull_s32(vget_low_s32(x), vget_low_s32(mv)), right);
    let hi = round_half_even2(vmull_high_s32(x, mv), right);
    let y = vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
    let z = zero_point as i32;
    let y = vminq_s32(y, vdupq_n_s32(u8::MAX as i32 - z));
    let y = vmaxq_s32(y, vdupq_n_s32(clamp_min as i32 - z));
    vaddq_s32(y, vdupq_n_s32(z))
}

/// `p / 2^s` rounded half to even on two `i64` lanes, `right = −s` (`|p| < 2⁶²`, `1 ≤ s ≤ 62`):
/// `srshl` adds `2^(s−1)` before its shift, so `p − 1 + parity` ties to even.
#[target_feature(enable = "neon")]
#[inline]
fn round_half_even2(p: int64x2_t, right: int64x2_t) -> int64x2_t {
    let one = vdupq_n_s64(1);
    let parity = vandq_s64(vshlq_s64(p, right), one);
    vrshlq_s64(vaddq_s64(p, vsubq_s64(parity, one)), right)
}

/// The tile's rows requantized with the stage's channels (rows past them are left as they are).
#[target_feature(enable = "neon")]
pub(super) fn store_u8(acc: &[[int32x4_t; 4]; MR], stage: TileStage<'_>, out: &mut [u8; MR * NR]) {
    for (r, channel) in stage.channels.iter().enumerate().take(MR) {
        let q = acc[r].map(|v| requantize4(v, channel, stage.zero_point, stage.clamp_min));
        // Every lane is in 0..=255 now: plain narrowing.
        let lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
        let hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
        // SAFETY: row r's sixteen bytes are inside the tile.
        unsafe { vst1q_u8(out.as_mut_ptr().add(r * NR), vcombine_u8(vqmovun_s16(lo), vqmovun_s16(hi))) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{requantize_one, FixedPointMultiplier};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[target_feature(enable = "neon")]
    fn lanes(acc: [i32; 4], channel: &ChannelRequant, zp: u8, lo: u8) -> [i32; 4] {
        let mut out = [0i32; 4];
        // SAFETY: four i32 in and out.
        unsafe { vst1q_s32(out.as_mut_ptr(), requantize4(vld1q_s32(acc.as_ptr()), channel, zp, lo)) };
        out
    }

    #[test]
    fn equals_the_scalar_stage_bit_for_bit() {
        let mut rng = SmallRng::seed_from_u64(4);
        let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
        let (mut checked, mut inner_ties) = (0, 0);
        for case in 0..20_000 {
            // Multipliers from 2⁻³¹ to 2²⁰; a third with few significant bits, a small bias and
            // small accumulators: exact ties that reach the output.
            let ties = case % 3 == 0;
            let real = if ties { rng.gen_range(1..16) as f64 * 2f64.powi(rng.gen_range(-9..0)) } else { 2f64.powf(rng.gen_range(-31.0..20.0)) };
            let Ok(multiplier) = FixedPointMultiplier::from_real(real) else { continue };
            let bias = match (case % 7, ties) {
                (0, _) => 0,
                (_, true) => rng.gen_range(-300..300),
                _ => rng.gen(),
            };
            let channel = ChannelRequant { multiplier, bias };
            let (zp, lo): (u8, u8) = (rng.gen(), if rng.gen() { 0 } else { rng.gen() });
            let lo = lo.min(zp);
            let acc: [i32; 4] = std::array::from_fn(|i| match rng.gen_range(0..4) {
                0 => extremes[(case + i) % extremes.len()],
                1 => rng.gen(),
                _ if ties => rng.gen_range(-2_000..2_000),
                _ => rng.gen_range(-100_000..100_000),
            });
            // SAFETY: NEON is the aarch64 baseline.
            let got = unsafe { lanes(acc, &channel, zp, lo) };
            for (g, &a) in got.iter().zip(&acc) {
                let want = requantize_one(&channel, zp, lo, a);
                assert_eq!(*g, want as i32, "acc {a} {channel:?} zp {zp} lo {lo}");
                checked += 1;
                let product = a.wrapping_add(channel.bias) as i64 * multiplier.mantissa as i64;
                let tie = product.rem_euclid(1 << (31 - multiplier.exponent)) == 1 << (30 - multiplier.exponent);
                inner_ties += usize::from(tie && want > lo && want < u8::MAX);
            }
        }
        assert!(checked > 40_000);
        assert!(inner_ties > 100, "{inner_ties}");
    }
}
