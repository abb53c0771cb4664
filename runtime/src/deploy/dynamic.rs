//! Dynamic quantization of linear layers: `i8` weights (per output channel, symmetric) quantized
//! once, the input vector quantized to `u8` on every call from its own range, the product in `i32`
//! on the GEMV kernels, the result dequantized to `f32` with the bias added in `f32`:
//!
//! `y[o] = s_x·s_w[o]·(Σ_k q_w[o,k]·q_x[k] − z_x·Σ_k q_w[o,k]) + b[o]`, `(s_x, z_x)` from `[min x, max x]`.
//!
//! Nothing is calibrated, so it needs no data; it pays where a layer reads many weights for little
//! arithmetic (a batch-1 linear layer is bound by reading its weights: `i8` reads a quarter).

use super::DeployError;
use crate::kernels::int8::{GemvScratch, Int8Kernels};
use crate::kernels::pack_i8::PackedRowsI8;
use crate::quant::{ActivationQParams, QuantizedWeights};

/// A linear layer with `i8` weights whose input is quantized per call.
#[derive(Debug, Clone)]
pub struct DynamicLinear {
    kernels: Int8Kernels,
    packed: PackedRowsI8,
    scales: Vec<f32>,
    row_sums: Vec<i64>,
    bias: Option<Vec<f32>>,
}

/// The buffers a [`DynamicLinear`] call writes (kept by the plan, reused).
#[derive(Debug, Clone, Default)]
pub struct DynamicScratch {
    quantized: Vec<u8>,
    acc: Vec<i32>,
    gemv: GemvScratch,
}

impl DynamicLinear {
    /// Quantizes `weight` (`[out, in]`, row-major) per output row; `bias` stays `f32`.
    pub fn new(weight: &[f32], out_features: usize, bias: Option<&[f32]>) -> Result<Self, DeployError> {
        let q = QuantizedWeights::quantize(weight, out_features)?;
        let row_sums = q.values.chunks_exact(q.fan_in.max(1)).map(|r| r.iter().map(|&v| v as i64).sum()).collect();
        Ok(Self {
            kernels: Int8Kernels::best(),
            packed: PackedRowsI8::new(&q.values, q.out_channels, q.fan_in)?,
            scales: q.scales.iter().map(|s| s.get()).collect(),
            row_sums,
            bias: bias.map(<[f32]>::to_vec),
        })
    }

    /// Weight bytes (`i8`) plus scales and biases (`f32`).
    pub fn size_bytes(&self) -> usize {
        self.packed.rows() * self.packed.depth() + 4 * self.scales.len() + 4 * self.bias.as_ref().map_or(0, Vec::len)
    }

    /// Weights and biases stored.
    pub fn parameters(&self) -> usize {
        self.packed.rows() * self.packed.depth() + self.bias.as_ref().map_or(0, Vec::len)
    }

    /// `y = W·x + b` with `x` quantized from its own range; `y` overwritten, then `max(0, ·)` if `relu`.
    pub fn forward(&self, x: &[f32], y: &mut [f32], relu: bool, scratch: &mut DynamicScratch) -> Result<(), DeployError> {
        let (lo, hi) = x.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let params = ActivationQParams::from_range(lo, hi)?;
        scratch.quantized.clear();
        scratch.quantized.extend(x.iter().map(|&v| params.quantize(v)));
        scratch.acc.resize(y.len(), 0);
        self.kernels.gemv_i32(&self.packed, &scratch.quantized, &mut scratch.acc, &mut scratch.gemv)?;
        let (s_x, z_x) = (params.scale.get(), params.zero_point as i64);
        for (o, out) in y.iter_mut().enumerate() {
            let acc = scratch.acc[o] as i64 - z_x * self.row_sums[o];
            let v = s_x * self.scales[o] * acc as f32 + self.bias.as_ref().map_or(0.0, |b| b[o]);
            *out = if relu { crate::ops::relu::relu_value(v) } else { v };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// The layer equals the same arithmetic written as plain loops, and stays close to `f32`.
    #[test]
    fn equals_the_plain_integer_formula_and_tracks_float() {
        let mut rng = SmallRng::seed_from_u64(21);
        let (o, i) = (7, 45);
        let w: Vec<f32> = (0..o * i).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let b: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let layer = DynamicLinear::new(&w, o, Some(&b)).unwrap();
        let q = QuantizedWeights::quantize(&w, o).unwrap();
        let mut scratch = DynamicScratch::default();
        for relu in [false, true] {
            let x: Vec<f32> = (0..i).map(|_| rng.gen_range(-2.0..3.0)).collect();
            let mut got = vec![0.0; o];
            layer.forward(&x, &mut got, relu, &mut scratch).unwrap();
            let (lo, hi) = x.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
            let p = ActivationQParams::from_range(lo, hi).unwrap();
            for r in 0..o {
                let row = &q.values[r * i..(r + 1) * i];
                let acc: i64 = row.iter().zip(&x).map(|(&a, &v)| a as i64 * (p.quantize(v) as i64 - p.zero_point as i64)).sum();
                let want = p.scale.get() * q.scales[r].get() * acc as f32 + b[r];
                let want = if relu { want.max(0.0) } else { want };
                assert_eq!(got[r], want, "row {r}");
                let exact: f32 = w[r * i..(r + 1) * i].iter().zip(&x).map(|(a, v)| a * v).sum::<f32>() + b[r];
                let exact = if relu { exact.max(0.0) } else { exact };
                assert!((got[r] - exact).abs() < 0.05, "row {r}: {} vs float {exact}", got[r]);
            }
        }
        assert_eq!(layer.parameters(), o * i + o);
        assert_eq!(layer.size_bytes(), o * i + 8 * o);
    }
}
