//! Fake quantization on dfdx tensors, for quantization-aware training: the forward pass rounds
//! values to the int8 grid and back (`dequant(quant(x))`), the backward pass is the straight-through
//! estimator.
//!
//! The forward uses exactly the arithmetic of the int8 engine ([`QuantizedWeights`] for weights,
//! [`ActivationQParams`] for activations: divide by the scale, round half to even, add the zero
//! point, clamp), so a model trained with these values is the model the int8 kernels later run.
//!
//! The gradient is PyTorch's `FakeQuantize` straight-through estimator: it passes unchanged where
//! the rounded integer *before* clamping, `round(x / scale) + zero_point`, lies inside the integer
//! range (`[−127, 127]` for weights, `[0, 255]` for activations), and is zero where the value was
//! clamped. With the per-channel `absmax / 127` scales of [`fake_quantize_weights`] no weight is ever
//! clamped, so the gradient passes everywhere.
//!
//! ```
//! use fasterai_runtime::prelude::*;
//! use fasterai_runtime::ops::fake_quant::fake_quantize_activations;
//! use fasterai_runtime::quant::{ActivationQParams, Scale};
//! let dev = Cpu::default();
//! let x = dev.tensor([-1.0f32, 0.26, 0.9, 3.0]);
//! let p = ActivationQParams { scale: Scale::new(0.5).unwrap(), zero_point: 1 }; // grid −0.5, 0, 0.5, ..., 127
//! let y = fake_quantize_activations(x.leaky_trace(), p).unwrap();
//! assert_eq!(y.array(), [-0.5, 0.5, 1.0, 3.0]);
//! let g = y.sum().backward();
//! assert_eq!(g.get(&x).array(), [0.0, 1.0, 1.0, 1.0]); // −1.0 lies below the grid: clamped, no gradient
//! ```

use dfdx::prelude::{Cpu, HasShape as _, PutTape as _, Shape, SplitTape as _, Tape, Tensor, TensorFromVec as _};

use crate::quant::{round_half_even, ActivationQParams, QuantError, QuantizedWeights, Scale, WEIGHT_MAX};

/// Values on the per-channel int8 grid and where the straight-through gradient passes.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeQuantized {
    /// `dequant(quant(x))`, one per input value.
    pub values: Vec<f32>,
    /// `true` where the value was inside the integer range before clamping (the gradient passes).
    pub passes: Vec<bool>,
}

/// Per-output-channel symmetric int8 fake quantization of a weight laid out `[out_channels, ...]`
/// (row-major), with `scale = absmax / 127` per row: the values [`QuantizedWeights::quantize`]
/// followed by [`QuantizedWeights::dequantize`] gives, every one of them passing the gradient.
///
/// ```
/// use fasterai_runtime::ops::fake_quant::fake_quantize_weight_values;
/// // Row 0 has absmax 127 (scale 1), row 1 absmax 63.5 (scale 0.5).
/// let fq = fake_quantize_weight_values(&[127.0, -0.5, 3.2, 63.5, 1.25, -0.3], 2).unwrap();
/// assert_eq!(fq.values, [127.0, 0.0, 3.0, 63.5, 1.0, -0.5]); // −0.5 and 2.5 steps round half to even
/// assert!(fq.passes.iter().all(|&p| p));
/// ```
pub fn fake_quantize_weight_values(weights: &[f32], out_channels: usize) -> Result<FakeQuantized, QuantError> {
    let values = QuantizedWeights::quantize(weights, out_channels)?.dequantize();
    Ok(FakeQuantized { passes: vec![true; values.len()], values })
}

/// Per-output-channel symmetric int8 fake quantization with given scales (one per row), e.g.
/// scales frozen before the end of training: `scale[c] · clamp(round(x / scale[c]), −127, 127)`.
///
/// ```
/// use fasterai_runtime::ops::fake_quant::fake_quantize_weight_values_with_scales;
/// use fasterai_runtime::quant::Scale;
/// let fq = fake_quantize_weight_values_with_scales(&[10.0, 63.75, -70.0], &[Scale::new(0.5).unwrap()]).unwrap();
/// assert_eq!(fq.values, [10.0, 63.5, -63.5]);
/// assert_eq!(fq.passes, [true, false, false]); // 127.5 rounds to 128 and −140 lies below −127
/// ```
pub fn fake_quantize_weight_values_with_scales(weights: &[f32], scales: &[Scale]) -> Result<FakeQuantized, QuantError> {
    let rows = scales.len();
    if rows == 0 || !weights.len().is_multiple_of(rows) {
        return Err(QuantError::RaggedRows { what: "weights", len: weights.len(), rows });
    }
    check_finite(weights)?;
    let fan_in = weights.len() / rows;
    let max = f32::from(WEIGHT_MAX);
    let mut out =
        FakeQuantized { values: Vec::with_capacity(weights.len()), passes: Vec::with_capacity(weights.len()) };
    for (row, scale) in weights.chunks(fan_in.max(1)).zip(scales) {
        let s = scale.get();
        for &w in row {
            let q = round_half_even(w / s);
            out.values.push(q.clamp(-max, max) * s);
            out.passes.push((-max..=max).contains(&q));
        }
    }
    Ok(out)
}

/// Per-output-channel symmetric fake quantization to `bits` bits (2 to 8): integers in
/// `[−(2^(bits−1) − 1), 2^(bits−1) − 1]`, `scale = absmax / (2^(bits−1) − 1)` per row, rounding half to
/// even; at 8 bits exactly [`fake_quantize_weight_values`]. For sensitivity analysis at lower precision.
///
/// ```
/// use fasterai_runtime::ops::fake_quant::fake_quantize_weight_values_to_bits;
/// // 4 bits: integers in [−7, 7]; absmax 7 gives scale 1.
/// let fq = fake_quantize_weight_values_to_bits(&[7.0, 2.5, -3.6, 0.4], 1, 4).unwrap();
/// assert_eq!(fq.values, [7.0, 2.0, -4.0, 0.0]);
/// assert!(fake_quantize_weight_values_to_bits(&[1.0], 1, 1).is_err());
/// ```
pub fn fake_quantize_weight_values_to_bits(
    weights: &[f32],
    out_channels: usize,
    bits: u8,
) -> Result<FakeQuantized, QuantError> {
    if !(2..=8).contains(&bits) {
        return Err(QuantError::UnsupportedBits(bits));
    }
    if out_channels == 0 || !weights.len().is_multiple_of(out_channels) {
        return Err(QuantError::RaggedRows { what: "weights", len: weights.len(), rows: out_channels });
    }
    check_finite(weights)?;
    let max = f32::from((1u8 << (bits - 1)) - 1);
    let fan_in = weights.len() / out_channels;
    let scales = weights
        .chunks(fan_in.max(1))
        .take(out_channels)
        .map(|row| {
            let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            Scale::new(if absmax > 0.0 { absmax / max } else { 1.0 / max })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = FakeQuantized { values: Vec::with_capacity(weights.len()), passes: vec![true; weights.len()] };
    for (row, scale) in weights.chunks(fan_in.max(1)).zip(&scales) {
        let s = scale.get();
        out.values.extend(row.iter().map(|&w| round_half_even(w / s).clamp(-max, max) * s));
    }
    Ok(out)
}

/// Per-tensor asymmetric uint8 fake quantization: `params.dequantize(params.quantize(x))` for every
/// value, the gradient passing where `round(x / scale) + zero_point` lies in `[0, 255]`.
///
/// ```
/// use fasterai_runtime::ops::fake_quant::fake_quantize_activation_values;
/// use fasterai_runtime::quant::ActivationQParams;
/// let p = ActivationQParams::from_range(0.0, 255.0).unwrap(); // scale 1, zero point 0
/// let fq = fake_quantize_activation_values(&[-0.6, 2.5, 300.0], p).unwrap();
/// assert_eq!(fq.values, [0.0, 2.0, 255.0]);
/// assert_eq!(fq.passes, [false, true, false]);
/// ```
pub fn fake_quantize_activation_values(x: &[f32], params: ActivationQParams) -> Result<FakeQuantized, QuantError> {
    check_finite(x)?;
    let (s, zp) = (params.scale.get(), f32::from(params.zero_point));
    Ok(FakeQuantized {
        values: x.iter().map(|&v| params.dequantize(params.quantize(v))).collect(),
        passes: x.iter().map(|&v| (0.0..=255.0).contains(&(round_half_even(v / s) + zp))).collect(),
    })
}

fn check_finite(x: &[f32]) -> Result<(), QuantError> {
    match x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(QuantError::NonFinite { what: "fake-quantized tensor", index, value }),
        None => Ok(()),
    }
}

/// Per-output-channel symmetric int8 fake quantization of a weight tensor (dimension 0 = output
/// channels; `[O, I]` for a Linear, `[O, I, K, K]` for a convolution), `scale = absmax / 127`,
/// recording the straight-through backward on the tensor's tape.
///
/// To train through it, trace the parameter itself (`weight.retaped()`), so the gradient lands on
/// the parameter's id.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::ops::fake_quant::fake_quantize_weights;
/// let dev = Cpu::default();
/// let w = dev.tensor([[127.0f32, -0.5], [63.5, 1.25]]); // scales 1 and 0.5
/// let y = fake_quantize_weights(w.leaky_trace()).unwrap();
/// assert_eq!(y.array(), [[127.0, 0.0], [63.5, 1.0]]);
/// let g = (y * dev.tensor([[1.0f32, 2.0], [3.0, 4.0]])).sum().backward();
/// assert_eq!(g.get(&w).array(), [[1.0, 2.0], [3.0, 4.0]]); // straight through
/// ```
pub fn fake_quantize_weights<S: Shape, T: Tape<f32, Cpu>>(
    w: Tensor<S, f32, Cpu, T>,
) -> Result<Tensor<S, f32, Cpu, T>, QuantError> {
    let rows = w.shape().concrete().into_iter().next().unwrap_or(1);
    straight_through(w, |v| fake_quantize_weight_values(v, rows))
}

/// [`fake_quantize_weights`] with given per-output-channel scales; the gradient is zero where a
/// weight was clamped to ±127 steps.
pub fn fake_quantize_weights_with_scales<S: Shape, T: Tape<f32, Cpu>>(
    w: Tensor<S, f32, Cpu, T>,
    scales: &[Scale],
) -> Result<Tensor<S, f32, Cpu, T>, QuantError> {
    straight_through(w, |v| fake_quantize_weight_values_with_scales(v, scales))
}

/// Per-tensor asymmetric uint8 fake quantization of an activation tensor of any shape, recording the
/// straight-through backward (zero where the value was clamped to 0 or 255) on its tape.
pub fn fake_quantize_activations<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    params: ActivationQParams,
) -> Result<Tensor<S, f32, Cpu, T>, QuantError> {
    straight_through(x, |v| fake_quantize_activation_values(v, params))
}

/// Applies `quantize` to the values of `x` and records `dx += dy` where the result passes.
fn straight_through<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    quantize: impl FnOnce(&[f32]) -> Result<FakeQuantized, QuantError>,
) -> Result<Tensor<S, f32, Cpu, T>, QuantError> {
    let (x, mut tape) = x.split_tape();
    let FakeQuantized { values, passes } = quantize(&x.as_vec())?;
    let out = x.device().tensor_from_vec(values, *x.shape());
    let (xg, og) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let dy = grads.get_or_alloc_mut(&og)?.to_vec();
        let dx: &mut [f32] = grads.get_or_alloc_mut(&xg)?;
        for ((d, g), &pass) in dx.iter_mut().zip(dy).zip(&passes) {
            if pass {
                *d += g;
            }
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}

#[cfg(test)]
mod tests;
