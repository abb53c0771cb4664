//! How one layer of the fp32 plan runs: the dispatch on its kernel, and the im2col + GEMM conv.

use super::{ConvKernel, Layer};
use crate::deploy::dynamic::DynamicScratch;
use crate::deploy::graph::Op;
use crate::deploy::DeployError;
use crate::kernels::pool::{max_pool_on_team, slices};
use crate::kernels::team::{try_for_each_chunk, Team};
use crate::kernels::{gemm, gemv_f32, im2col, Accumulate, ConvScratchF32, MatMut, MatRef, Parallelism, WinogradScratch};
use crate::model::ShapeInfo;

/// ReLU keeping NaN, as the model's forward does (PyTorch's semantics).
pub(super) fn relu_in_place(x: &mut [f32]) {
    for v in x {
        *v = crate::ops::relu::relu_value(*v);
    }
}

pub(super) fn hw(shape: ShapeInfo) -> (usize, usize, usize) {
    match shape {
        ShapeInfo::Chw { c, h, w } => (c, h, w),
        ShapeInfo::Flat { n } => (n, 1, 1),
    }
}

/// Runs one layer from `x` into `y`; returns false when it ran in place on `x` instead (a lone ReLU).
/// The buffers the layers of a plan share.
pub(super) struct Scratch<'a> {
    pub(super) col: &'a mut [f32],
    pub(super) dynamic: &'a mut DynamicScratch,
    pub(super) direct: &'a mut ConvScratchF32,
    pub(super) lanes: &'a mut Vec<f32>,
    pub(super) winograd: &'a mut WinogradScratch,
}

pub(super) fn run_layer(layer: &Layer, x: &[f32], y: &mut [f32], scratch: Scratch<'_>) -> Result<bool, DeployError> {
    let Scratch { col, dynamic, direct, lanes, winograd } = scratch;
    let (c, h, w) = hw(layer.node.input);
    match layer.node.op {
        Op::Conv { .. } if layer.direct.is_some() => match layer.direct.as_ref().expect("checked by the guard") {
            ConvKernel::Direct(conv) => conv.forward(x, y, direct, Parallelism::AllCores)?,
            ConvKernel::Winograd(conv) => conv.forward(x, y, winograd, Parallelism::AllCores)?,
            ConvKernel::Lanes(conv) => conv.forward(x, y, lanes, Parallelism::AllCores)?,
            ConvKernel::Phases(s2d, conv) => {
                let phases = &mut col[..s2d.len()];
                s2d.rearrange(x, 0.0, phases, true)?;
                conv.forward(phases, y, direct, Parallelism::AllCores)?
            }
        },
        Op::Conv { relu, .. } => {
            gemm_conv(layer, x, y, col, false)?;
            if relu {
                relu_in_place(y);
            }
        }
        Op::Linear { relu, .. } if layer.dynamic.is_some() => {
            layer.dynamic.as_ref().expect("checked by the guard").forward(x, y, relu, dynamic)?;
        }
        Op::Linear { out_features, relu, .. } => {
            let accumulate = fill_bias(y, layer.bias.as_deref(), 1);
            let inputs = x.len();
            gemv_f32(&layer.weight, out_features, inputs, x, y, accumulate, Parallelism::AllCores)?;
            if relu {
                relu_in_place(y);
            }
        }
        Op::Relu => return Ok(false),
        Op::MaxPool(window) => max_pool_on_team(x, c, (h, w), window, y)?,
        Op::AvgPool(window) => {
            slices::avg_pool2d(x, c, (h, w), window, y)?;
        }
        Op::AdaptiveAvgPool { out_h, out_w } => slices::adaptive_avg_pool2d(x, c, (h, w), (out_h, out_w), y)?,
        Op::GlobalAvgPool => slices::global_avg_pool2d(x, c, (h, w), y)?,
        Op::Fork | Op::Shortcut | Op::Add { .. } => unreachable!("residual nodes run in `step_layer`, which holds the skips"),
    }
    Ok(true)
}

/// A conv as im2col + GEMM, without its ReLU: `y = conv(x) + bias`, or `y += conv(x) + bias` if
/// `onto` (the fused add of a residual block, `y` holding the other side).
pub(super) fn gemm_conv(layer: &Layer, x: &[f32], y: &mut [f32], col: &mut [f32], onto: bool) -> Result<(), DeployError> {
    let Op::Conv { out_channels, .. } = layer.node.op else { unreachable!("only conv layers run as im2col + GEMM") };
    let g = layer.geometry.expect("conv layers carry their geometry");
    let (l, r) = (g.out_len(), g.col_rows());
    let accumulate = if onto {
        if let Some(b) = layer.bias.as_deref() {
            for (plane, &bo) in y.chunks_exact_mut(l).zip(b) {
                plane.iter_mut().for_each(|v| *v += bo);
            }
        }
        Accumulate::Add
    } else {
        fill_bias(y, layer.bias.as_deref(), l)
    };
    // out (L × O, col-major = NCHW) = colᵀ (L × R) · Wᵀ (R × O): positions, the large
    // dimension, are the GEMM's contiguous rows.
    let w_t = MatRef::row_major(&layer.weight, out_channels, r)?.t();
    let cols = if g.is_pointwise() {
        x
    } else {
        im2col(x, &g, &mut col[..g.col_len()])?;
        &col[..g.col_len()]
    };
    let cols_t = MatRef::row_major(cols, r, l)?.t();
    let team = Team::global();
    if layer.parallelism() == Parallelism::Sequential || team.threads() == 1 {
        gemm(MatMut::col_major(y, l, out_channels)?, cols_t, w_t, accumulate, Parallelism::Sequential)?;
        return Ok(());
    }
    // Output channels split over the team's threads, each a GEMM of its own: on rayon's threads the
    // products would wait for the cores the team's threads spin on.
    let per_o = out_channels.div_ceil(team.threads());
    try_for_each_chunk(y, per_o * l, true, |i, y| {
        let (o0, n) = (i * per_o, y.len() / l);
        let w = MatRef::row_major(&layer.weight[o0 * r..(o0 + n) * r], n, r)?;
        gemm(MatMut::col_major(y, l, n)?, cols_t, w.t(), accumulate, Parallelism::Sequential)
    })?;
    Ok(())
}

/// Fills each output plane of `len` values with its bias; tells the GEMM whether to add to it.
fn fill_bias(y: &mut [f32], bias: Option<&[f32]>, len: usize) -> Accumulate {
    match bias {
        Some(b) => {
            for (plane, &bo) in y.chunks_exact_mut(len).zip(b) {
                plane.fill(bo);
            }
            Accumulate::Add
        }
        None => Accumulate::Overwrite,
    }
}
