//! The int8 plan as an ONNX graph of standard integer operators, chosen so that the file computes
//! the integers [`Int8Model`] computes (see [`crate::deploy::int8::Int8Layer`] for the arithmetic):
//!
//! - the image: `Div` by `s`, then `QuantizeLinear` on the unit grid with `z`
//!   (`round_half_even(x / s) + z`, saturated: the plan's own rule, to the bit);
//! - a conv: `QLinearConv` with per-output-channel weight scales, `i32` bias in `s_in·s_w` steps,
//!   `u8` output (a fused ReLU is the saturation at `z_out = 0`, or a `Max` with `z_out`);
//! - a linear layer: `Flatten` → `MatMulInteger` (`Σ (x − z_in)·q_w` in `i32`) → `Add` of the
//!   `i32` bias → `Cast` to `f32` → `Mul` by `s_in·s_w[o] / s_out` → `QuantizeLinear` on the unit
//!   grid with `z_out` (QLinearConv's own rounding); the final layer stops after the `Mul` by
//!   `s_in·s_w[o]`: its `f32` logits, as the plan gives them;
//! - a lone ReLU: `Max` with the zero point; max pooling: `MaxPool` on `u8`;
//! - average poolings: `DequantizeLinear` with scale 1 (the exact integers `q − z`) → the `f32`
//!   pooling → `QuantizeLinear` with scale 1 back onto the same grid: the plan's arithmetic exactly;
//! - a residual add: `DequantizeLinear` of both sides → `Add` (→ `Relu`) → `QuantizeLinear` onto
//!   the add's grid;
//! - `u8` logits (a model ending in a pooling) are dequantized by a last `DequantizeLinear`.

use super::builder::{int, ints, Blocks, Flow, Graph};
use super::fp32;
use super::pooling;
use super::proto::{data_type, ModelProto};
use crate::deploy::graph::Op;
use crate::deploy::int8::Int8Layer;
use crate::deploy::{DeployError, Int8Model};
use crate::model::{Compressible, ShapeInfo};
use crate::quant::ActivationQParams;

fn chw(shape: ShapeInfo) -> (usize, usize, usize) {
    match shape {
        ShapeInfo::Chw { c, h, w } => (c, h, w),
        ShapeInfo::Flat { n } => (n, 1, 1),
    }
}

/// The scale and zero point of `q` as scalar constants named after `what`.
fn params(g: &mut Graph, what: &str, q: ActivationQParams) -> (String, String) {
    (g.f32s(&format!("{what}.scale"), &[], &[q.scale.get()]), g.u8s(&format!("{what}.zero_point"), &[], &[q.zero_point]))
}

/// A unit scale and the zero point `z`: the grid of integer steps.
fn unit_grid(g: &mut Graph, what: &str, z: u8) -> (String, String) {
    (g.f32s(&format!("{what}.unit_scale"), &[], &[1.0]), g.u8s(&format!("{what}.zero_point"), &[], &[z]))
}

/// `max(x, z)` on `u8`: a ReLU on the grid of zero point `z` (nothing when `z` is 0: `u8` saturation did it).
fn relu_u8(g: &mut Graph, x: Flow, z: u8, layer: &str) -> Flow {
    if z == 0 {
        return x;
    }
    let zero = g.u8s(&format!("{layer}.relu_floor"), &[], &[z]);
    let name = g.node("Max", &format!("{layer}.relu"), &[&x.name, &zero], vec![]);
    Flow { name, ..x }
}

fn dequantize(g: &mut Graph, x: &Flow, (scale, zero): &(String, String), output: &str) -> Flow {
    let name = g.node("DequantizeLinear", output, &[&x.name, scale, zero], vec![]);
    Flow { name, map: x.map, elem: data_type::FLOAT }
}

fn quantize(g: &mut Graph, x: &Flow, (scale, zero): &(String, String), output: &str) -> Flow {
    let name = g.node("QuantizeLinear", output, &[&x.name, scale, zero], vec![]);
    Flow { name, map: x.map, elem: data_type::UINT8 }
}

/// A conv layer: `QLinearConv`.
fn conv(g: &mut Graph, x: Flow, layer: &Int8Layer, output: ActivationQParams) -> Result<Flow, DeployError> {
    let (Op::Conv { out_channels, kernel, stride, padding, relu, .. }, Some(w)) = (layer.node.op, &layer.weights) else {
        return Err(DeployError::Export { layer: layer.node.layer, reason: "a conv layer without weights" });
    };
    let name = layer.node.layer;
    let (c, _, _) = chw(layer.node.input);
    let (x_scale, x_zero) = params(g, &format!("{name}.input"), layer.input);
    let weight = g.i8s(&format!("{name}.weight"), &[out_channels, c, kernel, kernel], &w.values);
    let w_scale = g.f32s(&format!("{name}.weight_scale"), &[out_channels], &w.scales.iter().map(|s| s.get()).collect::<Vec<_>>());
    let w_zero = g.i8s(&format!("{name}.weight_zero_point"), &[out_channels], &vec![0; out_channels]);
    let (y_scale, y_zero) = params(g, &format!("{name}.output"), output);
    let bias = g.i32s(&format!("{name}.bias"), &[out_channels], &layer.bias);
    let attributes = vec![ints("kernel_shape", &[kernel, kernel]), ints("strides", &[stride, stride]), ints("pads", &[padding; 4])];
    let inputs = [x.name.as_str(), &x_scale, &x_zero, &weight, &w_scale, &w_zero, &y_scale, &y_zero, &bias];
    let y = Flow { name: g.node("QLinearConv", name, &inputs, attributes), map: true, elem: data_type::UINT8 };
    Ok(if relu { relu_u8(g, y, output.zero_point, name) } else { y })
}

/// A linear layer: integer product, bias, rescale, and requantization unless it gives the logits.
fn linear(g: &mut Graph, x: Flow, layer: &Int8Layer) -> Result<Flow, DeployError> {
    let (Op::Linear { relu: fused, .. }, Some(w)) = (layer.node.op, &layer.weights) else {
        return Err(DeployError::Export { layer: layer.node.layer, reason: "a linear layer without weights" });
    };
    let name = layer.node.layer;
    let (outputs, fan_in) = (w.out_channels, w.fan_in);
    let x = g.flat(x);
    let mut transposed = vec![0i8; w.values.len()];
    for (o, row) in w.values.chunks_exact(fan_in.max(1)).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            transposed[k * outputs + o] = v;
        }
    }
    let weight = g.i8s(&format!("{name}.weight_t"), &[fan_in, outputs], &transposed);
    let x_zero = g.u8s(&format!("{name}.input.zero_point"), &[], &[layer.input.zero_point]);
    let acc = g.node("MatMulInteger", &format!("{name}.acc"), &[&x.name, &weight, &x_zero], vec![]);
    let bias = g.i32s(&format!("{name}.bias"), &[outputs], &layer.bias);
    let acc = g.node("Add", &format!("{name}.acc_bias"), &[&acc, &bias], vec![]);
    let real = g.node("Cast", &format!("{name}.acc_f32"), &[&acc], vec![int("to", data_type::FLOAT as i64)]);
    // `(s_in · s_w) / s_out` in f32: the plan's multiplier (`FixedPointMultiplier::from_scales`)
    // to the bit, and what a runtime computes from a QLinearConv's scales.
    let s_in = layer.input.scale.get();
    let out_scale = layer.output.map_or(1.0, |q| q.scale.get());
    let multipliers: Vec<f32> = w.scales.iter().map(|s| (s_in * s.get()) / out_scale).collect();
    let multipliers = g.f32s(&format!("{name}.multiplier"), &[outputs], &multipliers);
    let scaled = Flow { name: g.node("Mul", &format!("{name}.scaled"), &[&real, &multipliers], vec![]), map: false, elem: data_type::FLOAT };
    Ok(match layer.output {
        Some(output) => {
            let grid = unit_grid(g, &format!("{name}.output"), output.zero_point);
            let y = quantize(g, &scaled, &grid, name);
            if fused { relu_u8(g, y, output.zero_point, name) } else { y }
        }
        None if fused => fp32::relu(g, scaled, name),
        None => scaled,
    })
}

/// An average pooling of any kind, on the integer steps `q − z`, back onto the same grid.
fn average(g: &mut Graph, x: Flow, layer: &Int8Layer) -> Flow {
    let name = layer.node.layer;
    let grid = unit_grid(g, &format!("{name}.input"), layer.input.zero_point);
    let steps = dequantize(g, &x, &grid, &format!("{name}.steps"));
    let pooled_name = format!("{name}.pooled");
    let pooled = match layer.node.op {
        Op::AvgPool(window) => pooling::avg_pool(g, &steps, window, &pooled_name),
        Op::AdaptiveAvgPool { out_h, out_w } => pooling::adaptive_avg_pool(g, &steps, chw(layer.node.input), (out_h, out_w), &pooled_name),
        _ => pooling::global_avg_pool(g, &steps, &pooled_name),
    };
    quantize(g, &pooled, &grid, name)
}

/// The graph of an int8 plan of `M`.
pub(crate) fn graph<M: Compressible>(model: &Int8Model<M>, name: &str) -> Result<ModelProto, DeployError> {
    let mut g = Graph::default();
    let image = g.input(M::INPUT);
    let mut current = model.input_params();
    // `x / s` as its own `Div`, then the unit grid: the plan's `round_half_even(x / s) + z` exactly,
    // where a `QuantizeLinear` by `s` may compute `x · (1/s)`, which rounds differently on ties (on
    // pixels like the digits' k/16 the ties are many).
    let scale = g.f32s("input.scale", &[], &[current.scale.get()]);
    let steps = Flow { name: g.node("Div", "input.steps", &[&image.name, &scale], vec![]), ..image.clone() };
    let grid = unit_grid(&mut g, "input", current.zero_point);
    let mut x = quantize(&mut g, &steps, &grid, "input.q");
    let mut blocks = Blocks::<ActivationQParams>::default();
    for layer in model.layers() {
        let node = layer.node.layer;
        x = match (layer.node.op, layer.output) {
            (Op::Conv { .. }, Some(output)) => conv(&mut g, x, layer, output)?,
            (Op::Conv { .. }, None) => {
                return Err(DeployError::Export { layer: node, reason: "a conv layer without output parameters" })
            }
            (Op::Linear { .. }, _) => linear(&mut g, x, layer)?,
            (Op::Relu, _) => relu_u8(&mut g, x, layer.input.zero_point, node),
            (Op::MaxPool(window), _) => pooling::max_pool(&mut g, &x, window, node),
            (Op::AvgPool(_) | Op::AdaptiveAvgPool { .. } | Op::GlobalAvgPool, _) => average(&mut g, x, layer),
            (Op::Fork, _) => {
                blocks.fork(&x, layer.input);
                x
            }
            (Op::Shortcut, _) => blocks.shortcut(&x, layer.input, node)?.0,
            (Op::Add { relu: fused }, output) => {
                let output = output.ok_or(DeployError::Residual { layer: node, reason: "an add needs output parameters" })?;
                let (other, other_q) = blocks.close(node)?;
                let here = params(&mut g, &format!("{node}.input"), layer.input);
                let there = params(&mut g, &format!("{node}.other"), other_q);
                let a = dequantize(&mut g, &x, &here, &format!("{node}.a"));
                let b = dequantize(&mut g, &other, &there, &format!("{node}.b"));
                let sum = Flow { name: g.node("Add", &format!("{node}.sum"), &[&a.name, &b.name], vec![]), ..a };
                let sum = if fused { fp32::relu(&mut g, sum, node) } else { sum };
                let out = params(&mut g, &format!("{node}.output"), output);
                quantize(&mut g, &sum, &out, node)
            }
        };
        current = layer.output.unwrap_or(current);
    }
    if x.elem == data_type::UINT8 {
        let grid = params(&mut g, "logits", current);
        x = dequantize(&mut g, &x, &grid, "logits.f32");
    }
    let doc = format!(
        "int8 inference plan of `{name}` exported by fasterai-rs: u8 activations (per tensor), i8 weights (per output channel), i32 biases."
    );
    Ok(g.finish(name, doc, (&image, M::INPUT), (x, M::output())))
}
