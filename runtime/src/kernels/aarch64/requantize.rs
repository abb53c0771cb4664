//! The output stage on four `i32` lanes: the NEON twin of [`crate::quant::requantize_one`], bit
//! for bit, and the store of a requantized `6 × 16` tile.
//!
//! NEON has the fixed-point steps of the reference as single instructions: `sqshl` (the saturating
//! left shift), `sqrdmulh` (the rounding doubling high multiply: `(2·x·m + 2³¹) >> 32` rounds
//! ties up, as the reference's nudge does for both signs) and `srshl` (a rounding right shift,
//! ties up; the reference rounds ties away from zero, so negative lanes are lowered by one first).

use std::arch::aarch64::*;

use crate::kernels::types::{TileStage, MR, NR};
use crate::quant::ChannelRequant;

/// `clamp(z + M·(acc + bias), lo, 255)` on four lanes of one channel, as `i32`.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn requantize4(acc: int32x4_t, channel: &ChannelRequant, zero_point: u8, clamp_min: u8) -> int32x4_t {
    let m = channel.multiplier;
    let x = vaddq_s32(acc, vdupq_n_s32(channel.bias));
    let x = vqshlq_s32(x, vdupq_n_s32(m.left_shift() as i32));
    let y = vqrdmulhq_n_s32(x, m.mantissa);
    // Ties away from zero: a negative lane is lowered by one before the shift that rounds ties up
    // (only when there is a shift: the sign bit is kept by `shift != 0`).
    let right = m.right_shift() as i32;
    let fixup = vshrq_n_s32::<31>(vandq_s32(y, vdupq_n_s32(if right > 0 { -1 } else { 0 })));
    let y = vrshlq_s32(vqaddq_s32(y, fixup), vdupq_n_s32(-right));
    let z = zero_point as i32;
    let y = vminq_s32(y, vdupq_n_s32(u8::MAX as i32 - z));
    let y = vmaxq_s32(y, vdupq_n_s32(clamp_min as i32 - z));
    vaddq_s32(y, vdupq_n_s32(z))
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
        let mut checked = 0;
        for case in 0..20_000 {
            // Multipliers from 2⁻³¹ to 2²⁰ (left and right shifts), ties included (small accumulators).
            let Ok(multiplier) = FixedPointMultiplier::from_real(2f64.powf(rng.gen_range(-31.0..20.0))) else { continue };
            let channel = ChannelRequant { multiplier, bias: if case % 7 == 0 { 0 } else { rng.gen() } };
            let (zp, lo): (u8, u8) = (rng.gen(), if rng.gen() { 0 } else { rng.gen() });
            let lo = lo.min(zp);
            let acc: [i32; 4] = std::array::from_fn(|i| match rng.gen_range(0..4) {
                0 => extremes[(case + i) % extremes.len()],
                1 => rng.gen(),
                _ => rng.gen_range(-100_000..100_000),
            });
            // SAFETY: NEON is the aarch64 baseline.
            let got = unsafe { lanes(acc, &channel, zp, lo) };
            for (g, &a) in got.iter().zip(&acc) {
                assert_eq!(*g, requantize_one(&channel, zp, lo, a) as i32, "acc {a} {channel:?} zp {zp} lo {lo}");
                checked += 1;
            }
        }
        assert!(checked > 40_000);
    }
}
