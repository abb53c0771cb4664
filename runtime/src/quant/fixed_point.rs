//! Fixed-point multiplication of an `i32` accumulator by a real factor, rounded **once**.
//!
//! A real multiplier `M > 0` is written `M = (mantissa / 2³¹) · 2^exponent` with
//! `mantissa ∈ [2³⁰, 2³¹)`, and applying it to `x` gives the exact product rounded half to even:
//!
//! ```text
//! apply(x) = round_half_even(x · mantissa / 2^(31 − exponent))
//! ```
//!
//! computed exactly in `i64` (`|x · mantissa| < 2⁶²`, the shift between 1 and 62), saturated to
//! `i32`. This is ONNX `QuantizeLinear` (`round(x / y_scale)`, ties to even) applied to the exact
//! product; tract's integer `Scaler` with `RoundingPolicy::Even` (its requantization by one
//! per-tensor multiplier) computes the same: the float multiplier's significand times `x`, one
//! rounding shift.
//!
//! The requantization multiplier of a layer comes from its `f32` scales with
//! [`FixedPointMultiplier::from_scales`]: `(s_in · s_w) / s_out` in `f32`, the same operations in
//! the same order as ONNX Runtime's and tract's `QLinearConv`, so the real number multiplied is the
//! one they multiply by (a 24-bit significand, exact in the 31-bit mantissa). With per-channel
//! multipliers both runtimes round `f32(acc) · M` to `f32` before rounding it to an integer; the
//! result here differs from theirs only when that product lands within half an `f32` ulp (`2^-24`
//! relative) of a tie, or when `|acc| ≥ 2²⁴` and `f32(acc)` itself rounds.
//!
//! ## The kernels' form
//!
//! SIMD units without 64-bit arithmetic shifts (AVX2) compute the same value as
//! `round_half_even(sat(x · 2^l) · mantissa / 2^(32 + r))` with `l =` [`FixedPointMultiplier::left_shift`]
//! and `r =` [`FixedPointMultiplier::right_shift`] (`l − 32 − r = exponent − 31`, so the quotient
//! is the same): the division by `2³²` is taking the high half of the 64-bit product, the last `r`
//! bits a 32-bit arithmetic shift. The left shift saturates only when `|x · M| ≥ 2²⁹`, far outside
//! the `u8` output, which the output stage clamps to 0 or 255 either way.

use super::QuantError;

/// A positive real multiplier as an `i32` mantissa and a power-of-two exponent.
///
/// ```
/// use fasterai_runtime::quant::FixedPointMultiplier;
/// let m = FixedPointMultiplier::from_real(0.3).unwrap();
/// assert_eq!(m.apply(1000), 300);
/// assert_eq!(m.apply(-1000), -300);
/// assert!((m.to_real() - 0.3).abs() < 1e-9);
/// // One rounding, half to even: 5 · 0.5 = 2.5 → 2, 7 · 0.5 = 3.5 → 4.
/// let half = FixedPointMultiplier::from_real(0.5).unwrap();
/// assert_eq!((half.apply(5), half.apply(7), half.apply(-5)), (2, 4, -2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixedPointMultiplier {
    /// Q31 mantissa in `[2³⁰, 2³¹)`.
    pub mantissa: i32,
    /// Power of two: `M = mantissa · 2^(exponent − 31)`, `exponent ∈ [−31, 30]`.
    pub exponent: i32,
}

/// Largest exponent: beyond it every non-zero accumulator saturates.
const MAX_LEFT: i32 = 30;
/// Smallest exponent is `−MAX_RIGHT`: the total shift `31 − exponent` stays at most 62.
const MAX_RIGHT: i32 = 31;

impl FixedPointMultiplier {
    /// The fixed-point form of `real`; errors unless `2^-32 ≤ real < 2^30` (roughly).
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

    /// The requantization multiplier of a layer, `(s_in · s_w) / s_out` computed in `f32` as ONNX
    /// Runtime and tract compute it from a `QLinearConv`'s scales: the same real number, held
    /// exactly (its 24-bit significand fits the mantissa).
    ///
    /// ```
    /// use fasterai_runtime::quant::FixedPointMultiplier;
    /// let (s_in, s_w, s_out) = (0.02f32, 0.003f32, 0.05f32);
    /// let m = FixedPointMultiplier::from_scales(s_in, s_w, s_out).unwrap();
    /// assert_eq!(m.to_real(), ((s_in * s_w) / s_out) as f64);
    /// ```
    pub fn from_scales(s_in: f32, s_w: f32, s_out: f32) -> Result<Self, QuantError> {
        Self::from_real(((s_in * s_w) / s_out) as f64)
    }

    /// The real value this stands for.
    pub fn to_real(self) -> f64 {
        self.mantissa as f64 / 2f64.powi(31) * 2f64.powi(self.exponent)
    }

    /// The kernels' left shift `l = max(0, exponent + 1)` of `x` before the multiply (saturating).
    pub fn left_shift(self) -> u32 {
        (self.exponent + 1).max(0) as u32
    }

    /// The kernels' right shift `r = max(0, −exponent − 1)` after taking the high half of the
    /// product: `l − 32 − r = exponent − 31`.
    pub fn right_shift(self) -> u32 {
        (-self.exponent - 1).max(0) as u32
    }

    /// `round_half_even(x · M)` exactly, saturated to `i32`.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let product = x as i64 * self.mantissa as i64;
        round_shift_half_even(product, (31 - self.exponent) as u32).clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }
}

/// `x / 2^shift` rounded half to even, for `1 ≤ shift ≤ 62` and `|x| < 2⁶²` (so nothing overflows):
/// `(x + 2^(shift−1) − 1 + bit_shift(x)) >> shift`, the bit being the parity of `⌊x / 2^shift⌋`.
///
/// ```
/// use fasterai_runtime::quant::round_shift_half_even;
/// assert_eq!([5, 7, -5, -7, 6, -6].map(|x| round_shift_half_even(x, 1)), [2, 4, -2, -4, 3, -3]);
/// assert_eq!(round_shift_half_even(11, 2), 3); // 2.75
/// ```
#[inline]
pub fn round_shift_half_even(x: i64, shift: u32) -> i64 {
    debug_assert!((1..=62).contains(&shift) && x.unsigned_abs() < 1 << 62);
    let odd = (x >> shift) & 1;
    (x + (1i64 << (shift - 1)) - 1 + odd) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// `x · mantissa / 2^(31 − exponent)` rounded half to even in `i128`, saturated to `i32`.
    fn exact(m: FixedPointMultiplier, x: i32) -> i32 {
        let p = x as i128 * m.mantissa as i128;
        let d = 1i128 << (31 - m.exponent);
        let (q, r) = (p.div_euclid(d), p.rem_euclid(d));
        let q = q + i128::from(2 * r > d || (2 * r == d && q % 2 != 0));
        q.clamp(i32::MIN as i128, i32::MAX as i128) as i32
    }

    #[test]
    fn literal_values() {
        let half = FixedPointMultiplier::from_real(0.5).unwrap();
        assert_eq!((half.mantissa, half.exponent), (1 << 30, 0));
        assert_eq!([1, 3, 5, -1, -3, -5].map(|x| half.apply(x)), [0, 2, 2, 0, -2, -2]);
        let quarter = FixedPointMultiplier::from_real(0.25).unwrap();
        assert_eq!([2, 6, 7, -2, -6, -7].map(|x| quarter.apply(x)), [0, 2, 2, 0, -2, -2]);
        let four = FixedPointMultiplier::from_real(4.0).unwrap();
        assert_eq!(four.apply(100), 400);
        assert_eq!((four.apply(i32::MAX / 2), four.apply(i32::MIN)), (i32::MAX, i32::MIN));
        // Smallest and largest multipliers at the i32 extremes.
        // 2^-32: i32::MIN gives the tie −0.5, to the even 0.
        let tiny = FixedPointMultiplier { mantissa: 1 << 30, exponent: -MAX_RIGHT };
        assert_eq!((tiny.apply(i32::MIN), tiny.apply(i32::MAX)), (0, 0));
        let tiny = FixedPointMultiplier { mantissa: i32::MAX, exponent: -MAX_RIGHT };
        assert_eq!((tiny.apply(i32::MIN), tiny.apply(i32::MAX), tiny.apply(1 << 30)), (-1, 1, 0));
        // 2^30 − 1/2: 1 gives the tie 2^30 − 1/2, to the even 2^30.
        let huge = FixedPointMultiplier { mantissa: i32::MAX, exponent: MAX_LEFT };
        assert_eq!((huge.apply(1), huge.apply(2), huge.apply(3), huge.apply(-3)), (1 << 30, i32::MAX, i32::MAX, i32::MIN));
    }

    #[test]
    fn equals_the_exactly_rounded_product() {
        let mut rng = SmallRng::seed_from_u64(31);
        let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
        let mut ties = 0;
        for case in 0..200_000 {
            let m = if case % 3 == 0 {
                // Few significant bits: many exact ties.
                FixedPointMultiplier::from_real(rng.gen_range(1..16) as f64 * 2f64.powi(rng.gen_range(-31..8))).unwrap()
            } else {
                let m = FixedPointMultiplier::from_real(2f64.powf(rng.gen_range(-31.5..30.0))).unwrap();
                assert!(m.mantissa >= 1 << 30);
                m
            };
            let x = match case % 4 {
                0 => extremes[case / 4 % extremes.len()],
                1 => rng.gen(),
                _ => rng.gen_range(-100_000..100_000),
            };
            let product = x as i128 * m.mantissa as i128;
            ties += usize::from(product.rem_euclid(1 << (31 - m.exponent)) == 1 << (30 - m.exponent));
            assert_eq!(m.apply(x), exact(m, x), "x={x} {m:?}");
            let real = x as f64 * m.to_real();
            if real.abs() < 2e9 {
                assert!((m.apply(x) as f64 - real).abs() <= 0.5 + 1e-6, "x={x} {m:?}");
            }
        }
        assert!(ties > 2_000, "{ties}");
    }

    #[test]
    fn the_kernels_form_gives_the_same_output() {
        // sat(x·2^l)·mantissa / 2^(32+r), rounded half to even, equals apply wherever |x·M| < 2^29.
        let mut rng = SmallRng::seed_from_u64(32);
        for _ in 0..100_000 {
            let m = FixedPointMultiplier::from_real(2f64.powf(rng.gen_range(-31.5..30.0))).unwrap();
            assert_eq!(m.left_shift() as i32 - 32 - m.right_shift() as i32, m.exponent - 31);
            let x: i32 = if rng.gen() { rng.gen() } else { rng.gen_range(-1000..1000) };
            let shifted = ((x as i64) << m.left_shift()).clamp(i32::MIN as i64, i32::MAX as i64);
            let kernel = round_shift_half_even(shifted * m.mantissa as i64, 32 + m.right_shift());
            let want = m.apply(x) as i64;
            if want.abs() < 1 << 29 {
                assert_eq!(kernel, want, "x={x} {m:?}");
            } else {
                assert!(kernel.signum() == want.signum() && kernel.abs() >= 1 << 29, "x={x} {m:?}");
            }
        }
    }

    #[test]
    fn scales_give_the_f32_multiplier_exactly() {
        let mut rng = SmallRng::seed_from_u64(33);
        for _ in 0..10_000 {
            let (a, b, c): (f32, f32, f32) = (rng.gen_range(1e-4..1.0), rng.gen_range(1e-5..0.1), rng.gen_range(1e-3..1.0));
            let m = FixedPointMultiplier::from_scales(a, b, c).unwrap();
            assert_eq!(m.to_real(), ((a * b) / c) as f64);
            assert_eq!(m.mantissa & 0x7f, 0, "a 24-bit significand");
        }
    }

    #[test]
    fn out_of_range_multipliers_are_errors() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12, 1e10] {
            assert!(FixedPointMultiplier::from_real(bad).is_err(), "{bad}");
        }
        assert!(FixedPointMultiplier::from_scales(1.0, 1.0, 0.0).is_err());
    }
}
