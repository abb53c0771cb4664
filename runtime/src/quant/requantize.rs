//! The output stage of an int8 layer: `i32` accumulator → `u8` activation.
//!
//! For output channel `c` with input `(s_in, z_in)`, weights `s_w[c]` (zero point 0) and output
//! `(s_out, z_out)`, the real output is
//! `s_in·s_w[c] · Σ_k w[c,k]·(x[k] − z_in) + bias[c]`. In integers:
//! `q_out = clamp(z_out + M_c · (acc + bias_q[c] − z_in·Σ_k w[c,k]), lo, 255)` with
//! `M_c = s_in·s_w[c]/s_out` as a [`FixedPointMultiplier`] (computed in `f32`, as ONNX runtimes do:
//! [`FixedPointMultiplier::from_scales`]), the product `M_c · (…)` rounded once, half to even,
//! `bias_q = round(bias / (s_in·s_w[c]))` and
//! `acc = Σ_k w[c,k]·x[k]` the raw GEMM result. The zero-point correction is folded into the bias
//! once, so the GEMM stays a plain `u8 × i8 → i32` product. A fused ReLU is `lo = z_out`
//! (real 0); without it `lo = 0`.

use super::{ActivationQParams, FixedPointMultiplier, QuantError, QuantizedWeights};

/// What one output channel needs: its multiplier and its bias in accumulator steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelRequant {
    /// `(s_in · s_w[c]) / s_out` (in `f32`: [`FixedPointMultiplier::from_scales`]).
    pub multiplier: FixedPointMultiplier,
    /// `round(bias / (s_in·s_w[c])) − z_in · Σ_k w[c,k]`.
    pub bias: i32,
}

/// The fused `+ bias → requantize → (ReLU) → u8` stage of a layer, one entry per output channel.
///
/// ```
/// use fasterai_runtime::quant::{ActivationQParams, OutputStage, QuantizedWeights};
/// let input = ActivationQParams::from_range(0.0, 2.55).unwrap(); // step 0.01, zero point 0
/// let w = QuantizedWeights::quantize(&[1.0, -1.0], 2).unwrap(); // one weight per channel
/// let output = ActivationQParams::from_range(-1.0, 1.55).unwrap();
/// let stage = OutputStage::new(input, &w, Some(&[0.0, 0.5]), output, true).unwrap();
/// // x = 1.0 (q = 100): channel 0 gives 1.0; channel 1 gives −1.0 + 0.5 → ReLU → 0.
/// assert!((output.dequantize(stage.requantize(0, 100 * 127)) - 1.0).abs() <= 0.01);
/// assert_eq!(output.dequantize(stage.requantize(1, 100 * -127)), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputStage {
    /// One entry per output channel.
    pub channels: Vec<ChannelRequant>,
    /// `z_out`.
    pub output_zero_point: u8,
    /// Lowest output integer: `z_out` with a fused ReLU, else 0.
    pub clamp_min: u8,
}

impl OutputStage {
    /// The stage of a layer with these quantization parameters; `bias` in real units, one per channel.
    pub fn new(
        input: ActivationQParams,
        weights: &QuantizedWeights,
        bias: Option<&[f32]>,
        output: ActivationQParams,
        relu: bool,
    ) -> Result<Self, QuantError> {
        if let Some(b) = bias {
            if b.len() != weights.out_channels {
                return Err(QuantError::LengthMismatch { what: "bias", expected: weights.out_channels, found: b.len() });
            }
            if let Some((index, &value)) = b.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(QuantError::NonFinite { what: "bias", index, value });
            }
        }
        let s_in = input.scale.get() as f64;
        let rows = weights.values.chunks_exact(weights.fan_in.max(1));
        let channels = rows
            .zip(&weights.scales)
            .enumerate()
            .map(|(channel, (row, s_w))| {
                let step = s_in * s_w.get() as f64;
                let b = bias.map_or(0.0, |b| b[channel]);
                let row_sum: i64 = row.iter().map(|&w| w as i64).sum();
                let steps = quantize_bias(b, step);
                let folded = steps - input.zero_point as f64 * row_sum as f64;
                if folded.abs() >= i32::MAX as f64 / 2.0 {
                    return Err(QuantError::BiasOutOfRange { channel, bias: b, steps });
                }
                let multiplier = FixedPointMultiplier::from_scales(input.scale.get(), s_w.get(), output.scale.get())?;
                Ok(ChannelRequant { multiplier, bias: folded as i32 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            channels,
            output_zero_point: output.zero_point,
            clamp_min: if relu { output.zero_point } else { 0 },
        })
    }

    /// The output integer of channel `channel` for the raw accumulator `acc` (wrapping add of the bias,
    /// as the SIMD kernels do).
    #[inline]
    pub fn requantize(&self, channel: usize, acc: i32) -> u8 {
        requantize_one(&self.channels[channel], self.output_zero_point, self.clamp_min, acc)
    }
}

/// `clamp(z_out + M·(acc + bias), clamp_min, 255)` for one channel, in the order the SIMD kernels
/// use: the bias is added wrapping, and the clamp happens before adding `z_out` so nothing overflows.
#[inline]
pub fn requantize_one(channel: &ChannelRequant, zero_point: u8, clamp_min: u8, acc: i32) -> u8 {
    let scaled = channel.multiplier.apply(acc.wrapping_add(channel.bias));
    let z = zero_point as i32;
    (scaled.clamp(clamp_min as i32 - z, u8::MAX as i32 - z) + z) as u8
}

/// `bias / step` rounded half to even, in `f64` (the caller checks the range).
fn quantize_bias(bias: f32, step: f64) -> f64 {
    (bias as f64 / step).round_ties_even()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// The stage equals the float computation `quantize(s_in·s_w·acc' + bias)` within one output step.
    #[test]
    fn agrees_with_the_float_output_within_one_step() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (o, k) = (5, 40);
        let w: Vec<f32> = (0..o * k).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let qw = QuantizedWeights::quantize(&w, o).unwrap();
        let input = ActivationQParams::from_range(-1.0, 3.0).unwrap();
        let output = ActivationQParams::from_range(-4.0, 6.0).unwrap();
        for relu in [false, true] {
            let stage = OutputStage::new(input, &qw, Some(&bias), output, relu).unwrap();
            for _ in 0..200 {
                let x: Vec<u8> = (0..k).map(|_| rng.gen()).collect();
                for c in 0..o {
                    let row = &qw.values[c * k..][..k];
                    let acc: i32 = row.iter().zip(&x).map(|(&a, &b)| a as i32 * b as i32).sum();
                    let real: f32 = row
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| a as f32 * qw.scales[c].get() * input.dequantize(b))
                        .sum::<f32>()
                        + bias[c];
                    let real = if relu { real.max(0.0) } else { real };
                    let want = output.quantize(real) as i32;
                    let got = stage.requantize(c, acc) as i32;
                    assert!((got - want).abs() <= 1, "channel {c} relu {relu}: {got} vs {want} ({real})");
                }
            }
        }
    }

    #[test]
    fn relu_clamps_to_the_zero_point() {
        let qw = QuantizedWeights::quantize(&[1.0], 1).unwrap();
        let p = ActivationQParams::from_range(-1.0, 1.0).unwrap();
        let stage = OutputStage::new(p, &qw, None, p, true).unwrap();
        assert_eq!(stage.requantize(0, -1_000_000), p.zero_point);
        let stage = OutputStage::new(p, &qw, None, p, false).unwrap();
        assert_eq!(stage.requantize(0, -1_000_000), 0);
        assert_eq!(stage.requantize(0, 1_000_000), 255);
    }

    #[test]
    fn bad_bias_is_an_error() {
        let qw = QuantizedWeights::quantize(&[1.0, 1.0], 2).unwrap();
        let p = ActivationQParams::from_range(0.0, 1.0).unwrap();
        assert!(matches!(OutputStage::new(p, &qw, Some(&[1.0]), p, false), Err(QuantError::LengthMismatch { .. })));
        assert!(matches!(
            OutputStage::new(p, &qw, Some(&[0.0, 1e30]), p, false),
            Err(QuantError::BiasOutOfRange { channel: 1, .. })
        ));
    }
}
