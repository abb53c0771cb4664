//! Fixed-point multiplication of an `i32` accumulator by a real factor, gemmlowp/TFLite style.
//!
//! A real multiplier `M > 0` is written `M = (mantissa / 2³¹) · 2^exponent` with
//! `mantissa ∈ [2³⁰, 2³¹)`. Applying it to `x`:
//! 1. if `exponent > 0`, `x ← saturate(x · 2^exponent)`;
//! 2. `y = SaturatingRoundingDoublingHighMul(x, mantissa)`: the high 32 bits of `2·x·mantissa`,
//!    rounded half away from zero;
//! 3. if `exponent < 0`, `y ← RoundingDivideByPOT(y, −exponent)`: an arithmetic shift right
//!    rounding half away from zero.
//!
//! Step 1 saturates when `|x| · 2^exponent ≥ 2³¹`, which needs `M ≥ 1` and `|x · M| ≥ 2³⁰`: far
//! outside the `u8` output, so the output stage clamps it to 0 or 255 either way.
//!
//! Everything is integer, so the scalar code here and the SIMD output stage of the kernels agree
//! bit for bit; the result is within one unit of the exact product `x · M`.

use super::QuantError;

/// A positive real multiplier as an `i32` mantissa and a power-of-two exponent.
///
/// ```
/// use fasterai_runtime::quant::FixedPointMultiplier;
/// let m = FixedPointMultiplier::from_real(0.3).unwrap();
/// assert_eq!(m.apply(1000), 300);
/// assert_eq!(m.apply(-1000), -300);
/// assert!((m.to_real() - 0.3).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixedPointMultiplier {
    /// Q31 mantissa in `[2³⁰, 2³¹)`.
    pub mantissa: i32,
    /// Power of two: positive shifts left before the multiply, negative shifts right after it.
    pub exponent: i32,
}

/// Largest left shift: beyond it every non-zero accumulator saturates.
const MAX_LEFT: i32 = 30;
/// Largest right shift [`rounding_divide_by_pot`] takes.
const MAX_RIGHT: i32 = 31;

impl FixedPointMultiplier {
    /// The fixed-point form of `real`; errors unless `2^-32 ≤ real < 2^31` (roughly).
    pub fn from_real(real: f64) -> Result<Self, QuantError> {
        if !(real.is_finite() && real > 0.0) {
            return Err(QuantError::MultiplierOutOfRange(real));
        }
        // real = q · 2^exponent with q in [0.5, 1).
        let mut exponent = real.log2().floor() as i32 + 1;
        let mut q = real / 2f64.powi(exponent);
        // log2 can be off by one ulp near powers of two: renormalise.
        while q >= 1.0 {
            q /= 2.0;
            exponent += 1;
        }
        while q < 0.5 {
            q *= 2.0;
            exponent -= 1;
        }
        let mut mantissa = (q * 2f64.powi(31)).round() as i64;
        if mantissa == 1 << 31 {
            mantissa /= 2;
            exponent += 1;
        }
        if !(-MAX_RIGHT..=MAX_LEFT).contains(&exponent) {
            return Err(QuantError::MultiplierOutOfRange(real));
        }
        Ok(Self { mantissa: mantissa as i32, exponent })
    }

    /// The real value this stands for.
    pub fn to_real(self) -> f64 {
        self.mantissa as f64 / 2f64.powi(31) * 2f64.powi(self.exponent)
    }

    /// Left shift applied before the multiply.
    pub fn left_shift(self) -> u32 {
        self.exponent.max(0) as u32
    }

    /// Right shift applied after the multiply.
    pub fn right_shift(self) -> u32 {
        (-self.exponent).max(0) as u32
    }

    /// `x · M`, rounded as the module docs describe.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let shifted = saturating_shl(x, self.left_shift());
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, self.mantissa), self.right_shift())
    }
}

/// `x · 2^shift`, saturated to `i32`.
#[inline]
pub fn saturating_shl(x: i32, shift: u32) -> i32 {
    ((x as i64) << shift).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// High 32 bits of `2·a·b`, rounded half away from zero; `i32::MAX` for `a = b = i32::MIN`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates toward zero, as in gemmlowp.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded half away from zero (`exponent ≤ 31`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= MAX_RIGHT as u32);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn literal_values() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // 2·(2^30)·(2^30) / 2^32 = 2^29
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // −2.5 → −3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        let half = FixedPointMultiplier::from_real(0.5).unwrap();
        assert_eq!((half.mantissa, half.exponent), (1 << 30, 0));
        assert_eq!(half.apply(3), 2); // 1.5 → 2
        let four = FixedPointMultiplier::from_real(4.0).unwrap();
        assert_eq!(four.apply(100), 400);
        // 4 = 0.5 · 2³: the left shift saturates first, then the 0.5 halves it.
        assert_eq!(four.apply(i32::MAX / 2), 1 << 30);
    }

    #[test]
    fn matches_the_float_product_within_one_unit() {
        let mut rng = SmallRng::seed_from_u64(31);
        for _ in 0..20_000 {
            let real = 2f64.powf(rng.gen_range(-30.0..8.0));
            let m = FixedPointMultiplier::from_real(real).unwrap();
            assert!((m.to_real() / real - 1.0).abs() < 1e-9, "{real} stored as {m:?}");
            assert!(m.mantissa >= 1 << 30);
            // Keep x · 2^exponent inside i32 so saturation does not enter.
            let bound = (i32::MAX >> m.left_shift()) as i64;
            let x = rng.gen_range(-bound..=bound) as i32;
            let exact = x as f64 * real;
            let got = m.apply(x) as f64;
            assert!((got - exact).abs() <= 1.0, "x={x} M={real}: {got} vs {exact}");
        }
    }

    #[test]
    fn out_of_range_multipliers_are_errors() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12, 1e10] {
            assert!(FixedPointMultiplier::from_real(bad).is_err(), "{bad}");
        }
    }
}
