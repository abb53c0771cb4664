//! Per-tensor asymmetric `u8` activations: `real = scale · (q − zero_point)`, `q ∈ [0, 255]`.
//!
//! The range always contains 0, so a zero activation (ReLU output, zero padding) is exactly
//! representable by the zero point: padding a quantized image with `zero_point` is padding with 0.

use super::{round_half_even, QuantError, Scale};

/// Quantization parameters of one activation tensor.
///
/// ```
/// use fasterai_runtime::quant::ActivationQParams;
/// let p = ActivationQParams::from_range(-1.0, 3.0).unwrap();
/// assert_eq!(p.zero_point, 64); // 1.0 / (4.0 / 255) = 63.75 → 64
/// assert_eq!(p.quantize(0.0), 64);
/// assert!((p.dequantize(p.quantize(2.0)) - 2.0).abs() <= p.scale.get() / 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActivationQParams {
    /// Real value of one step.
    pub scale: Scale,
    /// The integer that stands for real 0.
    pub zero_point: u8,
}

impl ActivationQParams {
    /// Parameters covering `[min, max]` widened to contain 0, over the 256 levels of `u8`.
    ///
    /// A range of width 0 (all values were 0) gets scale 1 and zero point 0, which represents 0 exactly.
    pub fn from_range(min: f32, max: f32) -> Result<Self, QuantError> {
        for (index, value) in [min, max].into_iter().enumerate() {
            if !value.is_finite() {
                return Err(QuantError::NonFinite { what: "activation range", index, value });
            }
        }
        let (lo, hi) = (min.min(max).min(0.0), max.max(min).max(0.0));
        if hi == lo {
            return Ok(Self { scale: Scale::new(1.0)?, zero_point: 0 });
        }
        let scale = Scale::new((hi as f64 - lo as f64) as f32 / 255.0)?;
        let zero_point = round_half_even(-lo / scale.get()).clamp(0.0, 255.0) as u8;
        Ok(Self { scale, zero_point })
    }

    /// The real range `[lowest, highest]` these parameters represent.
    pub fn range(&self) -> (f32, f32) {
        let s = self.scale.get();
        (-(self.zero_point as f32) * s, (255.0 - self.zero_point as f32) * s)
    }

    /// `clamp(round(x / scale) + zero_point, 0, 255)`, rounding half to even.
    #[inline]
    pub fn quantize(&self, x: f32) -> u8 {
        (round_half_even(x / self.scale.get()) + self.zero_point as f32).clamp(0.0, 255.0) as u8
    }

    /// `scale · (q − zero_point)`.
    #[inline]
    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale.get() * (q as i32 - self.zero_point as i32) as f32
    }

    /// Quantizes a slice.
    pub fn quantize_slice(&self, x: &[f32]) -> Vec<u8> {
        x.iter().map(|&v| self.quantize(v)).collect()
    }

    /// Dequantizes a slice.
    pub fn dequantize_slice(&self, q: &[u8]) -> Vec<f32> {
        q.iter().map(|&v| self.dequantize(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn range_always_contains_zero() {
        for (min, max) in [(0.5, 2.0), (-3.0, -1.0), (-1.0, 1.0), (0.0, 0.0)] {
            let p = ActivationQParams::from_range(min, max).unwrap();
            let (lo, hi) = p.range();
            assert!(lo <= 0.0 && hi >= 0.0, "{min}..{max} gave {lo}..{hi}");
            assert_eq!(p.dequantize(p.quantize(0.0)), 0.0);
        }
        let p = ActivationQParams::from_range(0.5, 2.0).unwrap();
        assert_eq!(p.zero_point, 0);
        let p = ActivationQParams::from_range(-3.0, -1.0).unwrap();
        assert_eq!(p.zero_point, 255);
    }

    #[test]
    fn non_finite_range_is_an_error() {
        assert!(matches!(
            ActivationQParams::from_range(f32::NAN, 1.0),
            Err(QuantError::NonFinite { index: 0, .. })
        ));
        assert!(ActivationQParams::from_range(0.0, f32::INFINITY).is_err());
    }

    #[test]
    fn round_trip_error_is_within_half_a_step_on_random_data() {
        let mut rng = SmallRng::seed_from_u64(6);
        for _ in 0..200 {
            let a: f32 = rng.gen_range(-10.0..5.0);
            let b: f32 = rng.gen_range(-5.0..20.0);
            let (min, max) = (a.min(b), a.max(b));
            let p = ActivationQParams::from_range(min, max).unwrap();
            let half = p.scale.get() / 2.0;
            let mut xs: Vec<f32> = (0..500).map(|_| rng.gen_range(min..=max)).collect();
            xs.extend([min, max, 0.0]);
            for &x in &xs {
                let err = (p.dequantize(p.quantize(x)) - x).abs();
                assert!(err <= half * (1.0 + 1e-4), "x={x} err={err} half step={half} ({min}..{max})");
            }
        }
    }

    #[test]
    fn values_outside_the_range_saturate() {
        let p = ActivationQParams::from_range(0.0, 1.0).unwrap();
        assert_eq!(p.quantize(5.0), 255);
        assert_eq!(p.quantize(-5.0), 0);
    }
}
