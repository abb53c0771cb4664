//! One layer of an int8 plan: what it is (public, enough to recompute it with plain integer loops)
//! and the packed form the kernels run.
//!
//! The arithmetic of a conv/linear layer with input `(s_in, z_in)`, weights `q_w` with scales
//! `s_w[o]`, `i32` bias `b_q[o] = round(b[o] / (s_in·s_w[o]))` and output `(s_out, z_out)`:
//! `acc[o] = Σ_k q_w[o,k]·x[k]` (raw `u8 × i8 → i32`), then
//! `y[o] = clamp(z_out + round_half_even(M_o·(acc[o] + b_q[o] − z_in·Σ_k q_w[o,k])), lo, 255)` with
//! `M_o = (s_in·s_w[o])/s_out` in `f32` as a [`FixedPointMultiplier`] (the product exact, rounded
//! once) and `lo = z_out` under a fused ReLU, else 0.
//! A final linear layer without output parameters gives `f32` logits instead:
//! `y[o] = s_in·s_w[o]·(acc[o] + b_q[o] − z_in·Σ_k q_w[o,k])` (then `max(0, ·)` under a fused ReLU).

use crate::deploy::graph::Node;
use crate::kernels::generic::im2col_u8::ConvShape;
use crate::kernels::conv_quads::QuadConv;
use crate::kernels::conv_u8_direct::DirectConvU8;
use crate::kernels::conv_u8_shallow::ShallowConvU8;
use crate::kernels::int8::Int8Kernels;
use crate::kernels::{ConvGeometry, SpaceToDepth, WinogradU8};
use crate::kernels::pack_i8::{PackedRowsI8, PackedWeightsI8};
use crate::quant::{ActivationQParams, AddRequant, ChannelRequant, FixedPointMultiplier, OutputStage, QuantError, QuantizedWeights};

/// One layer of an [`Int8Model`](super::Int8Model), in the form a plain reference can recompute.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Layer {
    /// What the layer computes (conv/linear geometry, fused ReLU, pooling window).
    pub node: Node,
    /// Quantization of its input.
    pub input: ActivationQParams,
    /// Quantization of its output; `None` for a final linear layer that outputs `f32` logits.
    pub output: Option<ActivationQParams>,
    /// The weights, `[O, fan_in]`, per-output-channel symmetric (conv/linear layers only).
    pub weights: Option<QuantizedWeights>,
    /// The bias in accumulator steps, `round(b / (s_in·s_w[o]))`, one per output (empty without weights).
    pub bias: Vec<i32>,
}

impl Int8Layer {
    /// Whether a ReLU is fused into this conv/linear layer.
    pub fn relu(&self) -> bool {
        use crate::deploy::graph::Op;
        matches!(self.node.op, Op::Conv { relu: true, .. } | Op::Linear { relu: true, .. })
    }

    /// `b_q[o] − z_in·Σ_k q_w[o,k]`: the bias with the input zero point folded in, per output.
    pub fn folded_bias(&self) -> Vec<i64> {
        let Some(w) = &self.weights else { return Vec::new() };
        let z = self.input.zero_point as i64;
        w.values
            .chunks_exact(w.fan_in.max(1))
            .zip(&self.bias)
            .map(|(row, &b)| b as i64 - z * row.iter().map(|&v| v as i64).sum::<i64>())
            .collect()
    }
}

/// `round(bias[o] / (s_in·s_w[o]))`, rounding half to even; errors when it does not fit comfortably in `i32`.
pub(crate) fn quantize_bias(
    bias: Option<&[f32]>,
    input: ActivationQParams,
    weights: &QuantizedWeights,
) -> Result<Vec<i32>, QuantError> {
    let Some(bias) = bias else { return Ok(vec![0; weights.out_channels]) };
    if bias.len() != weights.out_channels {
        return Err(QuantError::LengthMismatch { what: "bias", expected: weights.out_channels, found: bias.len() });
    }
    let s_in = input.scale.get() as f64;
    bias.iter()
        .zip(&weights.scales)
        .enumerate()
        .map(|(channel, (&b, s_w))| {
            if !b.is_finite() {
                return Err(QuantError::NonFinite { what: "bias", index: channel, value: b });
            }
            let steps = (b as f64 / (s_in * s_w.get() as f64)).round_ties_even();
            if steps.abs() >= (i32::MAX / 4) as f64 {
                return Err(QuantError::BiasOutOfRange { channel, bias: b, steps });
            }
            Ok(steps as i32)
        })
        .collect()
}

/// The fused output stage of a layer from its stored parts (the same numbers as
/// [`OutputStage::new`] given the real bias `b_q·s_in·s_w`).
pub(crate) fn output_stage(layer: &Int8Layer, output: ActivationQParams, relu: bool) -> Result<OutputStage, QuantError> {
    let weights = layer.weights.as_ref().expect("only conv/linear layers have an output stage");
    let s_in = layer.input.scale.get() as f64;
    let channels = layer
        .folded_bias()
        .into_iter()
        .zip(&weights.scales)
        .enumerate()
        .map(|(channel, (folded, s_w))| {
            if folded.unsigned_abs() >= (i32::MAX / 2) as u64 {
                let bias = layer.bias[channel] as f32 * (s_in * s_w.get() as f64) as f32;
                return Err(QuantError::BiasOutOfRange { channel, bias, steps: folded as f64 });
            }
            let multiplier = FixedPointMultiplier::from_scales(layer.input.scale.get(), s_w.get(), output.scale.get())?;
            Ok(ChannelRequant { multiplier, bias: folded as i32 })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OutputStage { channels, output_zero_point: output.zero_point, clamp_min: if relu { output.zero_point } else { 0 } })
}

/// A layer in the form the kernels run.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// im2col + GEMM with the output stage fused; shallow convs (a network's first) on the direct
    /// kernel instead, when the CPU runs it.
    /// A stride-2 conv with `phases` runs as the stride-1 conv of `shape` over its input's phases
    /// ([`SpaceToDepth`]), its weights rearranged (the integers are the same).
    Conv {
        shape: ConvShape,
        packed: PackedWeightsI8,
        quads: Option<QuadConv>,
        shallow: Option<Box<ShallowConvU8>>,
        stage: OutputStage,
        phases: Option<SpaceToDepth>,
        /// With `phases` on tables other than AMX, the rows of the stride-1 form's patch matrix
        /// that hold a tap of the original kernel ([`SpaceToDepth::tap_steps`]): `packed` holds
        /// only those columns, so the conv costs its own multiply-adds, not the 1.78× (3×3) or
        /// 1.31× (7×7) of the whole form, which AMX's conv paths (and its shallow kernel) run.
        steps: Option<Vec<usize>>,
        /// The exact integer Winograd form of a wide 3×3 conv, on the AVX2 tables.
        winograd: Option<Box<WinogradU8>>,
    },
    /// A conv (any stride) read straight from its input's channel quads, weights and output stage
    /// in its own form: the AVX-512 VNNI table's convs over at least 16 channels.
    Direct(Box<DirectConvU8>),
    /// GEMV, then the output stage (`Some`) or the `f32` dequantization (`None`: `scale[o]`, folded bias).
    Linear { packed: PackedRowsI8, stage: Option<OutputStage>, scales: Vec<f64>, folded: Vec<i64> },
    /// The add that ends a residual block, onto its own grid.
    Add(AddRequant),
    /// Pooling, a lone ReLU, or the start or shortcut of a residual block: nothing to prepare.
    Plain,
}

impl Compiled {
    /// Packs `layer` for `kernels`.
    pub(crate) fn new(layer: &Int8Layer, kernels: &Int8Kernels) -> Result<Self, QuantError> {
        use crate::deploy::graph::Op;
        use crate::model::ShapeInfo;
        let Some(weights) = &layer.weights else { return Ok(Compiled::Plain) };
        match (layer.node.op, layer.node.input) {
            (Op::Conv { kernel, stride, padding, relu, .. }, ShapeInfo::Chw { c, h, w }) => {
                let mut shape = ConvShape::new(c, h, w, kernel, stride, padding)?;
                let output = layer.output.ok_or(QuantError::LengthMismatch { what: "conv output parameters", expected: 1, found: 0 })?;
                let stage = output_stage(layer, output, relu)?;
                let rows = weights.out_channels;
                if let Some(direct) = kernels.direct_conv(shape, &weights.values, rows, &stage) {
                    return Ok(Compiled::Direct(Box::new(direct)));
                }
                let phases = phases(shape);
                let mut values = std::borrow::Cow::Borrowed(&weights.values[..]);
                let mut steps = None;
                if let Some(s2d) = phases {
                    let g = s2d.geometry();
                    shape = ConvShape::new(g.channels(), g.height(), g.width(), g.kernel(), 1, 0)?;
                    let found = weights.values.len();
                    let mismatch = |_| QuantError::LengthMismatch { what: "conv weights", expected: rows * c * kernel * kernel, found };
                    if kernels.amx() {
                        values = s2d.weights(&weights.values, rows).map_err(mismatch)?.into();
                    } else {
                        values = s2d.tap_weights(&weights.values, rows).map_err(mismatch)?.into();
                        steps = Some(s2d.tap_steps());
                    }
                }
                let whole_form = steps.is_none();
                let depth = steps.as_ref().map_or(shape.depth(), Vec::len);
                Ok(Compiled::Conv {
                    shape,
                    packed: kernels.pack_weights(&values, rows, depth)?,
                    quads: kernels.quad_conv(shape, &values, rows).filter(|_| whole_form),
                    shallow: kernels.shallow_conv(shape, &values, rows).filter(|_| whole_form).map(Box::new),
                    winograd: kernels.winograd_conv(shape, &values, rows, &stage, layer.input.zero_point).filter(|_| whole_form).map(Box::new),
                    stage,
                    phases,
                    steps,
                })
            }
            (Op::Linear { relu, .. }, _) => {
                let stage = layer.output.map(|output| output_stage(layer, output, relu)).transpose()?;
                let s_in = layer.input.scale.get() as f64;
                Ok(Compiled::Linear {
                    packed: PackedRowsI8::new(&weights.values, weights.out_channels, weights.fan_in)?,
                    stage,
                    scales: weights.scales.iter().map(|s| s_in * s.get() as f64).collect(),
                    folded: layer.folded_bias(),
                })
            }
            _ => Ok(Compiled::Plain),
        }
    }
}

/// Stride-2 convs whose stride-1 form ([`SpaceToDepth`]) costs at most this many times their
/// multiply-adds run in that form: every kernel but 1×1 (3×3 costs 1.78×, 7×7 1.31×), as the
/// gather of a stride-2 patch matrix costs more than the extra products there. On AMX, ResNet-18,
/// one thread: the 7×7 stem 2.9 → 1.5 ms, its 3×3 stride-2 convs 0.70 → 0.39 ms. The other tables
/// leave the zero taps out (`steps` of [`Compiled::Conv`]), so there the form costs the conv's own
/// multiply-adds and spares only the gather: ResNet-18 on an AMD EPYC (Zen 4), 2 threads, AVX-512
/// VNNI table: the stem 2.7–3.4 → 0.9–1.4 ms, the 3×3/2 convs 0.44–0.71 → 0.25–0.34 ms (from
/// gathered). That table now runs every conv over at least 16 channels on the direct kernel, which
/// takes any stride ([`Compiled::Direct`]); its stem (3 channels) still goes by the phases.
const SPACE_TO_DEPTH_COST: f64 = 2.0;

/// The stride-1 form of a stride-2 conv of `shape`, when it runs faster than the gather.
fn phases(shape: ConvShape) -> Option<SpaceToDepth> {
    let g = ConvGeometry::new(shape.channels, shape.height, shape.width, shape.kernel, shape.stride, shape.padding).ok()?;
    SpaceToDepth::new(g).filter(|s2d| s2d.cost() <= SPACE_TO_DEPTH_COST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::graph::Op;
    use crate::model::ShapeInfo;

    /// The stage built from stored parts equals the one [`OutputStage::new`] builds from the real bias.
    #[test]
    fn stored_parts_give_the_library_output_stage() {
        let w = QuantizedWeights::quantize(&[0.3, -0.7, 0.1, 0.9, 0.2, -0.4], 2).unwrap();
        let input = ActivationQParams::from_range(-1.0, 3.0).unwrap();
        let output = ActivationQParams::from_range(-2.0, 5.0).unwrap();
        let real_bias = [0.25f32, -1.5];
        let bias = quantize_bias(Some(&real_bias), input, &w).unwrap();
        let node = Node {
            layer: "fc",
            input: ShapeInfo::Flat { n: 3 },
            output: ShapeInfo::Flat { n: 2 },
            op: Op::Linear { out_features: 2, bias: true, batch_norm: None, relu: true, adaptive_pool: None },
        };
        let layer = Int8Layer { node, input, output: Some(output), weights: Some(w.clone()), bias: bias.clone() };
        let ours = output_stage(&layer, output, true).unwrap();
        // The real bias the stored steps stand for reproduces the same integers.
        let exact: Vec<f32> = bias
            .iter()
            .zip(&w.scales)
            .map(|(&b, s)| (b as f64 * input.scale.get() as f64 * s.get() as f64) as f32)
            .collect();
        assert_eq!(ours, OutputStage::new(input, &w, Some(&exact), output, true).unwrap());
        assert_eq!(ours, OutputStage::new(input, &w, Some(&real_bias), output, true).unwrap());
    }
}
