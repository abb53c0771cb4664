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
    use crate::kernels::conformance_i8::check_stage_lanes;

    #[target_feature(enable = "neon")]
    fn lanes(acc: [i32; 4], channel: &ChannelRequant, zp: u8, lo: u8) -> [i32; 4] {
        let mut out = [0i32; 4];
        // SAFETY: four i32 in and out.
        unsafe { vst1q_s32(out.as_mut_ptr(), requantize4(vld1q_s32(acc.as_ptr()), channel, zp, lo)) };
        out
    }

    #[test]
    fn equals_the_scalar_stage_bit_for_bit() {
        // SAFETY: NEON is the aarch64 baseline.
        check_stage_lanes::<4>(4, 20_000, |acc, channel, zp, lo| unsafe { lanes(acc, channel, zp, lo) });
    }
}
