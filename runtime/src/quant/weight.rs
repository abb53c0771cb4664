//! Per-output-channel symmetric `i8` weights: `real = scale[c] · q`, `q ∈ [−127, 127]`.
//!
//! The grid is symmetric (zero point 0, −128 unused) so a weight and its negation quantize to
//! negated integers, and the products `u8 · i8` stay within what the kernels accumulate exactly.

use super::{round_half_even, QuantError, Scale};

/// Largest magnitude of a quantized weight.
pub const WEIGHT_MAX: i8 = 127;

/// A weight matrix `[out_channels, fan_in]` (row-major; a conv's `[O, I, K, K]` flattened) in int8,
/// with one scale per output channel.
///
/// ```
/// use fasterai_runtime::quant::QuantizedWeights;
/// let w = QuantizedWeights::quantize(&[1.0, -0.5, 0.25, 0.0, 2.0, -2.0], 2).unwrap();
/// assert_eq!(w.values, vec![127, -64, 32, 0, 127, -127]);
/// assert_eq!(w.scales[0].get(), 1.0 / 127.0);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantizedWeights {
    /// `out_channels × fan_in` integers in `[−127, 127]`, row-major.
    pub values: Vec<i8>,
    /// One step per output channel: `absmax / 127` of that channel's row.
    pub scales: Vec<Scale>,
    /// Number of rows.
    pub out_channels: usize,
    /// Length of each row.
    pub fan_in: usize,
}

impl QuantizedWeights {
    /// Quantizes `weights` (`out_channels` rows) with `scale = absmax / 127` per row, rounding half to even.
    ///
    /// A row of zeros (a pruned filter) gets scale `1/127`, which keeps its quantized values 0.
    pub fn quantize(weights: &[f32], out_channels: usize) -> Result<Self, QuantError> {
        if out_channels == 0 || !weights.len().is_multiple_of(out_channels) {
            return Err(QuantError::RaggedRows { what: "weights", len: weights.len(), rows: out_channels });
        }
        if let Some((index, &value)) = weights.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(QuantError::NonFinite { what: "weights", index, value });
        }
        let fan_in = weights.len() / out_channels;
        let mut values = Vec::with_capacity(weights.len());
        let mut scales = Vec::with_capacity(out_channels);
        for row in weights.chunks_exact(fan_in.max(1)).take(out_channels) {
            let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = Scale::new(if absmax > 0.0 { absmax / WEIGHT_MAX as f32 } else { 1.0 / WEIGHT_MAX as f32 })?;
            let max = WEIGHT_MAX as f32;
            values.extend(row.iter().map(|&w| round_half_even(w / scale.get()).clamp(-max, max) as i8));
            scales.push(scale);
        }
        Ok(Self { values, scales, out_channels, fan_in })
    }

    /// The real weights these integers stand for.
    pub fn dequantize(&self) -> Vec<f32> {
        self.values
            .chunks_exact(self.fan_in.max(1))
            .zip(&self.scales)
            .flat_map(|(row, s)| row.iter().map(move |&q| q as f32 * s.get()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn round_trip_error_is_within_half_a_step_per_channel() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (o, fan_in) = (9, 37);
        let w: Vec<f32> = (0..o * fan_in).map(|i| rng.gen_range(-1.0..1.0) * (1 + i / fan_in) as f32).collect();
        let q = QuantizedWeights::quantize(&w, o).unwrap();
        let back = q.dequantize();
        for (i, (a, b)) in w.iter().zip(&back).enumerate() {
            let half = q.scales[i / fan_in].get() / 2.0;
            assert!((a - b).abs() <= half * (1.0 + 1e-5), "w[{i}]={a} came back {b}");
        }
        assert!(q.values.iter().all(|&v| v != i8::MIN));
        // Each row's largest magnitude lands on ±127.
        for row in q.values.chunks(fan_in) {
            assert_eq!(row.iter().map(|v| v.unsigned_abs()).max(), Some(127));
        }
    }

    #[test]
    fn zero_row_and_bad_input() {
        let q = QuantizedWeights::quantize(&[0.0, 0.0, 1.0, -1.0], 2).unwrap();
        assert_eq!(q.values, vec![0, 0, 127, -127]);
        assert!(matches!(QuantizedWeights::quantize(&[1.0, 2.0, 3.0], 2), Err(QuantError::RaggedRows { .. })));
        assert!(matches!(
            QuantizedWeights::quantize(&[1.0, f32::NAN], 1),
            Err(QuantError::NonFinite { index: 1, .. })
        ));
    }
}
