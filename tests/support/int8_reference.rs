//! The int8 plan's arithmetic written as plain integer loops over the numbers
//! [`Int8Model::layers`] exposes: what the plan must equal bit for bit.

use fasterai::deploy::graph::Op;
use fasterai::deploy::Int8Model;
use fasterai::model::ShapeInfo;
use fasterai::quant::ActivationQParams;

fn chw(s: ShapeInfo) -> (usize, usize, usize) {
    match s {
        ShapeInfo::Chw { c, h, w } => (c, h, w),
        ShapeInfo::Flat { n } => (n, 1, 1),
    }
}

/// `clamp(z_out + round_half_even(M·(acc + b_q − z_in·Σw)), lo, 255)` with `M = (s_in·s_w)/s_out`
/// in `f32` (as ONNX runtimes compute it from a QLinearConv's scales), written out: `M` is
/// `sig·2^e` exactly (its `f32` bits), the product `(acc + …)·sig` exact in `i128`, rounded once.
fn requantize(acc: i64, folded: i64, s_in: f32, s_w: f32, out: ActivationQParams, relu: bool) -> u8 {
    let m = (s_in * s_w) / out.scale.get();
    assert!(m.is_normal() && m > 0.0);
    let bits = m.to_bits();
    let sig = (bits & 0x7f_ffff | 0x80_0000) as i128;
    let e = ((bits >> 23) & 0xff) as i32 - 127 - 23; // m = sig · 2^e
    assert!(e < 0, "multiplier {m} too large for this reference");
    let x = (acc + folded) as i32 as i128; // the bias added in i32 (wrapping), as the plan does
    let d = 1i128 << -e;
    let (q, r) = ((x * sig).div_euclid(d), (x * sig).rem_euclid(d));
    let rounded = q + i128::from(2 * r > d || (2 * r == d && q % 2 != 0));
    let lo = if relu { out.zero_point as i128 } else { 0 };
    (out.zero_point as i128 + rounded).clamp(lo, 255) as u8
}

/// The int8 add with one rounding, written out: `round(s_a/s_o·(q_a − z_a) + s_b/s_o·(q_b − z_b))`
/// with each ratio as `round(ratio·2³²)`, the exact `i64` sum rounded half to even by `2³²`.
fn add(qa: u8, a: ActivationQParams, qb: u8, b: ActivationQParams, out: ActivationQParams, relu: bool) -> u8 {
    let so = out.scale.get() as f64;
    let term = |q: u8, p: ActivationQParams| (p.scale.get() as f64 / so * 4_294_967_296.0).round() as i64 * (q as i64 - p.zero_point as i64);
    let sum = term(qa, a) + term(qb, b);
    let (floor, rest) = (sum.div_euclid(1 << 32), sum.rem_euclid(1 << 32));
    let rounded = floor + i64::from(rest > 1 << 31 || (rest == 1 << 31 && floor % 2 != 0));
    let lo = if relu { out.zero_point as i64 } else { 0 };
    (out.zero_point as i64 + rounded).clamp(lo, 255) as u8
}

/// The whole int8 forward in plain loops from the numbers the model exposes.
#[allow(clippy::needless_range_loop)] // explicit indices mirror the formulas
pub fn integer_reference<M>(model: &Int8Model<M>, image: &[f32]) -> Vec<f32> {
    let input = model.input_params();
    let mut x: Vec<u8> = image.iter().map(|&v| input.quantize(v)).collect();
    let mut params = input;
    // Per open residual block: its kept input and, after its shortcut began, the main path's end,
    // each with its quantization.
    let mut blocks: Vec<((Vec<u8>, ActivationQParams), Option<(Vec<u8>, ActivationQParams)>)> = Vec::new();
    for layer in model.layers() {
        match layer.node.op {
            Op::Fork => {
                blocks.push(((x.clone(), params), None));
                continue;
            }
            Op::Shortcut => {
                let block = blocks.last_mut().unwrap();
                block.1 = Some((x.clone(), params));
                (x, params) = block.0.clone();
                continue;
            }
            Op::Add { relu } => {
                let (kept, main) = blocks.pop().unwrap();
                let (other, other_params) = main.unwrap_or(kept);
                let out = layer.output.unwrap();
                x = x.iter().zip(&other).map(|(&a, &b)| add(a, params, b, other_params, out, relu)).collect();
                params = out;
                continue;
            }
            _ => {}
        }
        let (c, h, w) = chw(layer.node.input);
        let (oc, oh, ow) = chw(layer.node.output);
        let z_in = layer.input.zero_point as i64;
        let relu = matches!(layer.node.op, Op::Conv { relu: true, .. } | Op::Linear { relu: true, .. });
        let mut y = vec![0u8; oc * oh * ow];
        match layer.node.op {
            Op::Conv { kernel: k, stride: s, padding: p, .. } => {
                let wq = layer.weights.as_ref().unwrap();
                let out = layer.output.unwrap();
                for o in 0..oc {
                    let row = &wq.values[o * c * k * k..(o + 1) * c * k * k];
                    let row_sum: i64 = row.iter().map(|&v| v as i64).sum();
                    for i in 0..oh {
                        for j in 0..ow {
                            let mut acc = 0i64;
                            for ci in 0..c {
                                for ki in 0..k {
                                    for kj in 0..k {
                                        let (r, q) = ((i * s + ki) as i64 - p as i64, (j * s + kj) as i64 - p as i64);
                                        let inside = r >= 0 && q >= 0 && r < h as i64 && q < w as i64;
                                        let v = if inside { x[ci * h * w + r as usize * w + q as usize] as i64 } else { z_in };
                                        acc += row[(ci * k + ki) * k + kj] as i64 * v;
                                    }
                                }
                            }
                            let folded = layer.bias[o] as i64 - z_in * row_sum;
                            y[(o * oh + i) * ow + j] =
                                requantize(acc, folded, layer.input.scale.get(), wq.scales[o].get(), out, relu);
                        }
                    }
                }
            }
            Op::Linear { .. } => {
                let wq = layer.weights.as_ref().unwrap();
                let n = x.len();
                let mut logits = Vec::new();
                for o in 0..oc {
                    let row = &wq.values[o * n..(o + 1) * n];
                    let acc: i64 = row.iter().zip(&x).map(|(&a, &b)| a as i64 * b as i64).sum();
                    let folded = layer.bias[o] as i64 - z_in * row.iter().map(|&v| v as i64).sum::<i64>();
                    match layer.output {
                        Some(out) => y[o] = requantize(acc, folded, layer.input.scale.get(), wq.scales[o].get(), out, relu),
                        None => {
                            let v = (layer.input.scale.get() as f64 * wq.scales[o].get() as f64 * (acc + folded) as f64) as f32;
                            logits.push(if relu { v.max(0.0) } else { v });
                        }
                    }
                }
                if layer.output.is_none() {
                    return logits;
                }
            }
            Op::Relu => y = x.iter().map(|&q| q.max(layer.input.zero_point)).collect(),
            Op::MaxPool(win) | Op::AvgPool(win) => {
                let max = matches!(layer.node.op, Op::MaxPool(_));
                for ci in 0..c {
                    for i in 0..oh {
                        for j in 0..ow {
                            let (mut best, mut sum) = (0u8, 0i64);
                            for ki in 0..win.kernel {
                                for kj in 0..win.kernel {
                                    let (r, q) = ((i * win.stride + ki) as i64 - win.padding as i64, (j * win.stride + kj) as i64 - win.padding as i64);
                                    if r >= 0 && q >= 0 && r < h as i64 && q < w as i64 {
                                        let v = x[ci * h * w + r as usize * w + q as usize];
                                        best = best.max(v);
                                        sum += v as i64 - z_in;
                                    }
                                }
                            }
                            let mean = (sum as f64 / (win.kernel * win.kernel) as f64).round_ties_even() as i64;
                            y[(ci * oh + i) * ow + j] = if max { best } else { (mean + z_in).clamp(0, 255) as u8 };
                        }
                    }
                }
            }
            Op::Fork | Op::Shortcut | Op::Add { .. } => unreachable!("handled above"),
            Op::AdaptiveAvgPool { .. } | Op::GlobalAvgPool => {
                // The sizes used here split evenly: bins of (h/oh)×(w/ow).
                let (bh, bw) = (h / oh, w / ow);
                for ci in 0..c {
                    for i in 0..oh {
                        for j in 0..ow {
                            let mut sum = 0i64;
                            for r in i * bh..(i + 1) * bh {
                                for q in j * bw..(j + 1) * bw {
                                    sum += x[ci * h * w + r * w + q] as i64 - z_in;
                                }
                            }
                            let mean = (sum as f64 / (bh * bw) as f64).round_ties_even() as i64;
                            y[(ci * oh + i) * ow + j] = (mean + z_in).clamp(0, 255) as u8;
                        }
                    }
                }
            }
        }
        params = layer.output.unwrap();
        x = y;
    }
    x.iter().map(|&q| params.dequantize(q)).collect()
}

