//! The one rounding rule of float → integer quantization.
//!
//! Quantization rounds **half to even** (`2.5 → 2`, `3.5 → 4`, `-2.5 → -2`), as `torch.round`,
//! numpy and ONNX `QuantizeLinear` do, so a tensor quantized here equals one quantized there.
//! Half to even is unbiased: ties do not drift a sum upwards. The error of one value is at most
//! half a step either way.
//!
//! Integer requantization (see [`super::fixed_point`]) follows the same rule on integers: the exact
//! product of the accumulator and the multiplier, rounded once, half to even.

/// Rounds `x` to the nearest integer, ties to even.
///
/// ```
/// use fasterai_runtime::quant::round_half_even;
/// assert_eq!(round_half_even(2.5), 2.0);
/// assert_eq!(round_half_even(3.5), 4.0);
/// assert_eq!(round_half_even(-0.5), -0.0);
/// assert_eq!(round_half_even(1.2), 1.0);
/// ```
#[inline]
pub fn round_half_even(x: f32) -> f32 {
    x.round_ties_even()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_even_and_others_to_nearest() {
        let cases = [(0.5, 0.0), (1.5, 2.0), (-1.5, -2.0), (-2.5, -2.0), (2.49, 2.0), (2.51, 3.0), (-7.0, -7.0)];
        for (x, want) in cases {
            assert_eq!(round_half_even(x), want, "round_half_even({x})");
        }
    }
}
