//! The fp32 plan as an ONNX graph: the nodes of [`plan_nodes`] with the weights of
//! [`folded_weights`] (BatchNorm folded in), so the file computes what
//! [`accelerate`](crate::deploy::accelerate()) runs.
//!
//! `Conv` (+ `Relu`), `Flatten` + `Gemm` (`transB = 1`, + `Relu`), `Relu`, the pooling nodes of
//! [`super::pooling`], and for residual blocks `Add` (+ `Relu`) of the block's two paths.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::builder::{ints, int, Blocks, Flow, Graph};
use super::pooling;
use super::proto::ModelProto;
use crate::deploy::graph::{folded_weights, plan_nodes, FoldedWeights, Op};
use crate::deploy::DeployError;
use crate::model::{Compressible, ShapeInfo};

/// `{layer}.relu`, a `Relu` of `x`.
pub(crate) fn relu(g: &mut Graph, x: Flow, layer: &str) -> Flow {
    let name = g.node("Relu", &format!("{layer}.relu"), &[&x.name], vec![]);
    Flow { name, ..x }
}

fn chw(shape: ShapeInfo) -> (usize, usize, usize) {
    match shape {
        ShapeInfo::Chw { c, h, w } => (c, h, w),
        ShapeInfo::Flat { n } => (n, 1, 1),
    }
}

/// The graph of `model`'s fp32 plan.
pub(crate) fn graph<M>(model: &M, name: &str) -> Result<ModelProto, DeployError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut g = Graph::default();
    let input = g.input(M::INPUT);
    let mut x = input.clone();
    let mut blocks = Blocks::<()>::default();
    for node in plan_nodes::<M>()? {
        let layer = node.layer;
        x = match node.op {
            Op::Conv { out_channels, kernel, stride, padding, relu: fused, .. } => {
                let FoldedWeights { weight, bias } = folded_weights(model, &node)?.unwrap_or_default();
                let (c, _, _) = chw(node.input);
                let w = g.f32s(&format!("{layer}.weight"), &[out_channels, c, kernel, kernel], &weight);
                let mut inputs = vec![x.name.clone(), w];
                if let Some(b) = bias {
                    inputs.push(g.f32s(&format!("{layer}.bias"), &[out_channels], &b));
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let attributes = vec![
                    ints("kernel_shape", &[kernel, kernel]),
                    ints("strides", &[stride, stride]),
                    ints("pads", &[padding; 4]),
                ];
                let y = Flow { name: g.node("Conv", layer, &inputs, attributes), ..x };
                if fused { relu(&mut g, y, layer) } else { y }
            }
            Op::Linear { out_features, relu: fused, .. } => {
                let FoldedWeights { weight, bias } = folded_weights(model, &node)?.unwrap_or_default();
                let x = g.flat(x);
                let w = g.f32s(&format!("{layer}.weight"), &[out_features, node.input.numel()], &weight);
                let b = g.f32s(&format!("{layer}.bias"), &[out_features], &bias.unwrap_or_else(|| vec![0.0; out_features]));
                let y = Flow { name: g.node("Gemm", layer, &[&x.name, &w, &b], vec![int("transB", 1)]), ..x };
                if fused { relu(&mut g, y, layer) } else { y }
            }
            Op::Relu => relu(&mut g, x, layer),
            Op::MaxPool(window) => pooling::max_pool(&mut g, &x, window, layer),
            Op::AvgPool(window) => pooling::avg_pool(&mut g, &x, window, layer),
            Op::AdaptiveAvgPool { out_h, out_w } => pooling::adaptive_avg_pool(&mut g, &x, chw(node.input), (out_h, out_w), layer),
            Op::GlobalAvgPool => pooling::global_avg_pool(&mut g, &x, layer),
            Op::Fork => {
                blocks.fork(&x, ());
                x
            }
            Op::Shortcut => blocks.shortcut(&x, (), layer)?.0,
            Op::Add { relu: fused } => {
                let (other, ()) = blocks.close(layer)?;
                let y = Flow { name: g.node("Add", layer, &[&x.name, &other.name], vec![]), ..x };
                if fused { relu(&mut g, y, layer) } else { y }
            }
        };
    }
    let doc = format!("fp32 inference plan of `{name}` exported by fasterai-rs: BatchNorms folded into the convs and linears.");
    Ok(g.finish(name, doc, (&input, M::INPUT), (x, M::output())))
}
