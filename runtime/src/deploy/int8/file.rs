//! Saving and loading an int8 plan as safetensors.
//!
//! Tensors (little-endian, as safetensors specifies):
//! - `input_scale` `F32 [1]`, `input_zero_point` `U8 [1]`: the input image's quantization;
//! - per conv/linear layer `L`: `L.weight` `I8 [O, C, K, K]` or `[O, I]`, `L.weight_scale` `F32 [O]`,
//!   `L.bias` `I32 [O]` (in accumulator steps), and, unless `L` is the final linear layer (whose
//!   logits are `f32`), `L.output_scale` `F32 [1]` and `L.output_zero_point` `U8 [1]`;
//! - per residual add `B:add` (the end of block `B`): `B:add.output_scale` and `B:add.output_zero_point`.
//!
//! Which tensors exist, and their shapes, follow from the model type alone, so
//! [`Int8Model::load`] checks every one of them against `M` before using any.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::residual::QuantChain;
use super::{Int8Layer, Int8Model};
use crate::deploy::graph::{plan_nodes, Node, Op};
use crate::deploy::DeployError;
use crate::model::Compressible;
use crate::quant::{ActivationQParams, QuantizedWeights, Scale, WEIGHT_MAX};

/// One tensor the file must hold.
struct Expected {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
}

/// Whether node `index` of `nodes` outputs `f32` logits (a final linear layer) rather than `u8`.
pub(crate) fn float_logits(nodes: &[Node], index: usize) -> bool {
    index + 1 == nodes.len() && matches!(nodes[index].op, Op::Linear { .. })
}

/// The tensors of the file of a model with these nodes, in file order.
fn expected_tensors(nodes: &[Node]) -> Vec<Expected> {
    let mut all = vec![
        Expected { name: "input_scale".into(), dtype: Dtype::F32, shape: vec![1] },
        Expected { name: "input_zero_point".into(), dtype: Dtype::U8, shape: vec![1] },
    ];
    for (index, node) in nodes.iter().enumerate() {
        if matches!(node.op, Op::Add { .. }) {
            all.push(Expected { name: format!("{}.output_scale", node.layer), dtype: Dtype::F32, shape: vec![1] });
            all.push(Expected { name: format!("{}.output_zero_point", node.layer), dtype: Dtype::U8, shape: vec![1] });
        }
        let Some(shape) = node.weight_shape() else { continue };
        let (layer, outputs) = (node.layer, shape[0]);
        all.push(Expected { name: format!("{layer}.weight"), dtype: Dtype::I8, shape });
        all.push(Expected { name: format!("{layer}.weight_scale"), dtype: Dtype::F32, shape: vec![outputs] });
        all.push(Expected { name: format!("{layer}.bias"), dtype: Dtype::I32, shape: vec![outputs] });
        if !float_logits(nodes, index) {
            all.push(Expected { name: format!("{layer}.output_scale"), dtype: Dtype::F32, shape: vec![1] });
            all.push(Expected { name: format!("{layer}.output_zero_point"), dtype: Dtype::U8, shape: vec![1] });
        }
    }
    all
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

impl<M> Int8Model<M> {
    /// The bytes of the safetensors file [`Int8Model::save`] writes.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, DeployError> {
        let nodes: Vec<Node> = self.layers.iter().map(|l| l.node).collect();
        let mut data: HashMap<String, Vec<u8>> = HashMap::new();
        data.insert("input_scale".into(), f32_bytes([self.input.scale.get()]));
        data.insert("input_zero_point".into(), vec![self.input.zero_point]);
        for layer in &self.layers {
            if let (Op::Add { .. }, Some(out)) = (layer.node.op, layer.output) {
                data.insert(format!("{}.output_scale", layer.node.layer), f32_bytes([out.scale.get()]));
                data.insert(format!("{}.output_zero_point", layer.node.layer), vec![out.zero_point]);
            }
            let Some(w) = &layer.weights else { continue };
            let name = layer.node.layer;
            data.insert(format!("{name}.weight"), w.values.iter().map(|&v| v as u8).collect());
            data.insert(format!("{name}.weight_scale"), f32_bytes(w.scales.iter().map(|s| s.get())));
            data.insert(format!("{name}.bias"), layer.bias.iter().flat_map(|b| b.to_le_bytes()).collect());
            if let Some(out) = layer.output {
                data.insert(format!("{name}.output_scale"), f32_bytes([out.scale.get()]));
                data.insert(format!("{name}.output_zero_point"), vec![out.zero_point]);
            }
        }
        let format = |message: String| DeployError::Format { path: "<in memory>".into(), message };
        let views = expected_tensors(&nodes)
            .into_iter()
            .map(|e| {
                let bytes = data.get(&e.name).ok_or_else(|| format(format!("no data for tensor `{}`", e.name)))?;
                let view = TensorView::new(e.dtype, e.shape, bytes).map_err(|err| format(format!("{}: {err:?}", e.name)))?;
                Ok((e.name, view))
            })
            .collect::<Result<Vec<_>, DeployError>>()?;
        safetensors::tensor::serialize(views, &None).map_err(|err| format(format!("{err:?}")))
    }

    /// Writes the model to `path` as safetensors (through a temporary file renamed into place).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DeployError> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        crate::fsutil::write_atomic(path, &bytes).map_err(|source| DeployError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }
}

impl<M: Compressible> Int8Model<M> {
    /// Reads a model saved by [`Int8Model::save`], checking every tensor's name, dtype and shape
    /// against `M`'s structure; an error names the first tensor that does not fit.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DeployError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DeployError::Io { action: "read", path: path.to_path_buf(), source })?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|err| DeployError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "{}; check the path, or save the model again with Int8Model::save",
                    crate::safetensors_file::describe(&bytes, &err)
                ),
            })?;
        let nodes = plan_nodes::<M>()?;
        let bad = |name: &str, problem: String| DeployError::FileTensor { path: path.to_path_buf(), name: name.to_string(), problem };
        let expected = expected_tensors(&nodes);
        let mut tensors: HashMap<String, Vec<u8>> = HashMap::new();
        for e in &expected {
            let view = file.tensor(&e.name).map_err(|_| bad(&e.name, format!("missing; a model of this type stores {:?} {:?} there", e.dtype, e.shape)))?;
            if view.dtype() != e.dtype {
                return Err(bad(&e.name, format!("dtype {:?} where the model type needs {:?}", view.dtype(), e.dtype)));
            }
            if view.shape() != e.shape.as_slice() {
                return Err(bad(&e.name, format!("shape {:?} where the model type needs {:?}", view.shape(), e.shape)));
            }
            tensors.insert(e.name.clone(), view.data().to_vec());
        }
        if let Some(extra) = file.names().into_iter().find(|n| !tensors.contains_key(n.as_str())) {
            return Err(bad(extra, "not part of this model type; the file was saved from another model".into()));
        }

        let f32s = |name: &str| -> Vec<f32> {
            tensors[name].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        let params = |prefix: &str, sep: &str| -> Result<ActivationQParams, DeployError> {
            let scale_name = format!("{prefix}{sep}scale");
            let scale = Scale::new(f32s(&scale_name)[0]).map_err(|e| bad(&scale_name, e.to_string()))?;
            Ok(ActivationQParams { scale, zero_point: tensors[&format!("{prefix}{sep}zero_point")][0] })
        };
        let input = params("input", "_")?;
        let mut chain = QuantChain::new(input);
        let mut layers = Vec::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            let layer = match node.weight_shape() {
                Some(shape) => {
                    let name = node.layer;
                    let weight_name = format!("{name}.weight");
                    let values: Vec<i8> = tensors[&weight_name].iter().map(|&b| b as i8).collect();
                    if let Some(v) = values.iter().find(|&&v| v < -WEIGHT_MAX) {
                        return Err(bad(&weight_name, format!("holds {v}, outside the symmetric grid [−127, 127]")));
                    }
                    let scale_name = format!("{name}.weight_scale");
                    let scales = f32s(&scale_name)
                        .into_iter()
                        .map(Scale::new)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| bad(&scale_name, e.to_string()))?;
                    let bias = tensors[&format!("{name}.bias")]
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    let out_channels = shape[0];
                    let weights = QuantizedWeights { fan_in: values.len() / out_channels.max(1), values, scales, out_channels };
                    let output = if float_logits(&nodes, index) { None } else { Some(params(name, ".output_")?) };
                    Int8Layer { node: *node, input: chain.current(), output, weights: Some(weights), bias }
                }
                None => chain.plain(*node, || params(node.layer, ".output_"))?,
            };
            chain.advance(&layer);
            layers.push(layer);
        }
        Self::assemble(input, layers, M::INPUT, M::output())
    }
}
