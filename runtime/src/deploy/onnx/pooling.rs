//! The pooling nodes of both graphs, in ONNX's vocabulary.
//!
//! - max pooling: `MaxPool` (any element type; ONNX pads with −∞ as the plans do);
//! - average pooling: `AveragePool` with `count_include_pad = 1` (the plans count padding as 0);
//! - global average pooling: `GlobalAveragePool` (`N×C×1×1`, flattened when a layer needs it);
//! - adaptive average pooling: `GlobalAveragePool` to 1×1, `AveragePool` when the bins tile the
//!   map evenly, otherwise `Reshape` → `MatMul` by the constant `H·W × OH·OW` bin matrix (PyTorch's
//!   bins, as the plans use) → `Reshape`.

use super::builder::{int, ints, Flow, Graph};
use crate::kernels::pool::{adaptive_bin, PoolWindow};

fn window_attributes(window: PoolWindow) -> Vec<super::proto::AttributeProto> {
    let PoolWindow { kernel, stride, padding } = window;
    vec![ints("kernel_shape", &[kernel, kernel]), ints("strides", &[stride, stride]), ints("pads", &[padding; 4])]
}

/// `MaxPool` of `x` by `window`.
pub(crate) fn max_pool(g: &mut Graph, x: &Flow, window: PoolWindow, layer: &str) -> Flow {
    let name = g.node("MaxPool", layer, &[&x.name], window_attributes(window));
    Flow { name, ..x.clone() }
}

/// `AveragePool` of `x` by `window`, padding counted as zeros.
pub(crate) fn avg_pool(g: &mut Graph, x: &Flow, window: PoolWindow, layer: &str) -> Flow {
    let mut attributes = window_attributes(window);
    attributes.push(int("count_include_pad", 1));
    let name = g.node("AveragePool", layer, &[&x.name], attributes);
    Flow { name, ..x.clone() }
}

/// `GlobalAveragePool` of `x`.
pub(crate) fn global_avg_pool(g: &mut Graph, x: &Flow, layer: &str) -> Flow {
    let name = g.node("GlobalAveragePool", layer, &[&x.name], vec![]);
    Flow { name, ..x.clone() }
}

/// Adaptive average pooling of the `c×h×w` maps of the `f32` tensor `x` to `oh×ow`.
pub(crate) fn adaptive_avg_pool(g: &mut Graph, x: &Flow, (c, h, w): (usize, usize, usize), (oh, ow): (usize, usize), layer: &str) -> Flow {
    if (oh, ow) == (1, 1) {
        return global_avg_pool(g, x, layer);
    }
    if h % oh == 0 && w % ow == 0 && h / oh == w / ow {
        let side = h / oh;
        return avg_pool(g, x, PoolWindow { kernel: side, stride: side, padding: 0 }, layer);
    }
    let mut bins = vec![0.0f32; h * w * oh * ow];
    for by in 0..oh {
        let rows = adaptive_bin(by, h, oh);
        for bx in 0..ow {
            let cols = adaptive_bin(bx, w, ow);
            let share = 1.0 / (rows.len() * cols.len()) as f32;
            for y in rows.clone() {
                for x in cols.clone() {
                    bins[(y * w + x) * oh * ow + by * ow + bx] = share;
                }
            }
        }
    }
    let planes_shape = g.i64s(&format!("{layer}.planes_shape"), &[3], &[0, c as i64, (h * w) as i64]);
    let matrix = g.f32s(&format!("{layer}.bins"), &[h * w, oh * ow], &bins);
    let pooled_shape = g.i64s(&format!("{layer}.pooled_shape"), &[4], &[0, c as i64, oh as i64, ow as i64]);
    let planes = g.node("Reshape", &format!("{layer}.planes"), &[&x.name, &planes_shape], vec![]);
    let pooled = g.node("MatMul", &format!("{layer}.pooled"), &[&planes, &matrix], vec![]);
    let name = g.node("Reshape", layer, &[&pooled, &pooled_shape], vec![]);
    Flow { name, map: true, elem: x.elem }
}
