//! Building an ONNX graph: named constants, operator nodes, the tensor flowing through the plan
//! ([`Flow`]) and the residual blocks open along the way ([`Blocks`]).

use super::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};
use super::OPSET;
use crate::deploy::DeployError;
use crate::model::ShapeInfo;

/// The IR version that goes with opset 13.
const IR_VERSION: i64 = 7;
/// The name of the batch axis, left free in the file's input and output types.
const BATCH: &str = "batch";

/// The tensor the next node reads: its name, whether it still has the `N×C×H×W` rank (a global
/// pooling's `N×C×1×1` output is flattened only when a linear layer or the graph's end needs it),
/// and its element type.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub(crate) name: String,
    pub(crate) map: bool,
    pub(crate) elem: i32,
}

/// A graph under construction.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: std::collections::HashSet<String>,
}

/// An integer-list attribute.
pub(crate) fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: values.iter().map(|&v| v as i64).collect(), r#type: attribute_type::INTS, ..Default::default() }
}

/// An integer attribute.
pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, r#type: attribute_type::INT, ..Default::default() }
}

impl Graph {
    /// A name not used yet: `wanted`, or `wanted_2`, `wanted_3`, ...
    fn fresh(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 1;
        while !self.names.insert(name.clone()) {
            n += 1;
            name = format!("{wanted}_{n}");
        }
        name
    }

    /// Adds a constant tensor of `dims` with little-endian `raw` bytes; returns its name.
    fn constant(&mut self, name: &str, elem: i32, dims: &[usize], raw: Vec<u8>) -> String {
        let name = self.fresh(name);
        let dims = dims.iter().map(|&d| d as i64).collect();
        self.initializers.push(TensorProto { dims, data_type: elem, name: name.clone(), raw_data: raw });
        name
    }

    /// A constant `f32` tensor.
    pub(crate) fn f32s(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.constant(name, data_type::FLOAT, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// A constant `i8` tensor.
    pub(crate) fn i8s(&mut self, name: &str, dims: &[usize], values: &[i8]) -> String {
        self.constant(name, data_type::INT8, dims, values.iter().map(|&v| v as u8).collect())
    }

    /// A constant `u8` tensor.
    pub(crate) fn u8s(&mut self, name: &str, dims: &[usize], values: &[u8]) -> String {
        self.constant(name, data_type::UINT8, dims, values.to_vec())
    }

    /// A constant `i32` tensor.
    pub(crate) fn i32s(&mut self, name: &str, dims: &[usize], values: &[i32]) -> String {
        self.constant(name, data_type::INT32, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// A constant `i64` tensor.
    pub(crate) fn i64s(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String {
        self.constant(name, data_type::INT64, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// Adds an operator node reading `inputs`; returns the name of its (single) output, `output`
    /// made unique.
    pub(crate) fn node(&mut self, op: &str, output: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let out = self.fresh(output);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        out
    }

    /// `flow` as `N×features`: a `Flatten` when it is still a map.
    pub(crate) fn flat(&mut self, flow: Flow) -> Flow {
        if !flow.map {
            return flow;
        }
        let name = self.node("Flatten", &format!("{}.flat", flow.name), &[&flow.name], vec![int("axis", 1)]);
        Flow { name, map: false, elem: flow.elem }
    }

    /// The input of the graph: `input`, `f32`, of `shape` with a free batch axis.
    pub(crate) fn input(&mut self, shape: ShapeInfo) -> Flow {
        let name = self.fresh("input");
        Flow { name, map: matches!(shape, ShapeInfo::Chw { .. }), elem: data_type::FLOAT }
    }

    /// The finished model, reading `input` of `input_shape` and giving `output` (`f32`) of `output_shape`.
    pub(crate) fn finish(mut self, graph_name: &str, doc: String, input: (&Flow, ShapeInfo), output: (Flow, ShapeInfo)) -> ModelProto {
        let (out_flow, out_shape) = output;
        let out_flow = if matches!(out_shape, ShapeInfo::Flat { .. }) { self.flat(out_flow) } else { out_flow };
        // The graph's output gets its own name through an Identity: `logits`.
        let logits = self.node("Identity", "logits", &[&out_flow.name], vec![]);
        let graph = GraphProto {
            node: self.nodes,
            name: graph_name.into(),
            initializer: self.initializers,
            doc_string: doc,
            input: vec![value_info(&input.0.name, input.1)],
            output: vec![value_info(&logits, out_shape)],
        };
        ModelProto {
            ir_version: IR_VERSION,
            producer_name: "fasterai-rs".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: String::new(),
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        }
    }
}

/// An `f32` tensor of `shape` with a free leading batch axis.
fn value_info(name: &str, shape: ShapeInfo) -> ValueInfoProto {
    let sizes = match shape {
        ShapeInfo::Chw { c, h, w } => vec![c, h, w],
        ShapeInfo::Flat { n } => vec![n],
    };
    let batch = Dimension { dim_value: None, dim_param: Some(BATCH.into()) };
    let dim = std::iter::once(batch).chain(sizes.into_iter().map(|s| Dimension { dim_value: Some(s as i64), dim_param: None })).collect();
    let tensor = TensorTypeProto { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto { name: name.into(), r#type: Some(TypeProto { tensor_type: Some(tensor) }) }
}

/// The residual blocks open while a plan is written, innermost last: what each `Fork` kept and,
/// once its shortcut began, the main path's output. `T` is what travels with a tensor (its
/// quantization in the int8 graph, nothing in the fp32 one).
#[derive(Debug)]
pub(crate) struct Blocks<T> {
    open: Vec<(Flow, T, Option<(Flow, T)>)>,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Self { open: Vec::new() }
    }
}

impl<T: Clone> Blocks<T> {
    /// A block begins with `x`.
    pub(crate) fn fork(&mut self, x: &Flow, extra: T) {
        self.open.push((x.clone(), extra, None));
    }

    /// Its shortcut begins: `main` is put aside, the kept input returned.
    pub(crate) fn shortcut(&mut self, main: &Flow, extra: T, layer: &'static str) -> Result<(Flow, T), DeployError> {
        let top = self.open.last_mut().ok_or(DeployError::no_open_block(layer))?;
        top.2 = Some((main.clone(), extra));
        Ok((top.0.clone(), top.1.clone()))
    }

    /// The block ends: the side to add to the current tensor.
    pub(crate) fn close(&mut self, layer: &'static str) -> Result<(Flow, T), DeployError> {
        let (kept, extra, main) = self.open.pop().ok_or(DeployError::no_open_block(layer))?;
        Ok(main.unwrap_or((kept, extra)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_unique_and_blocks_pair_up() {
        let mut g = Graph::default();
        let a = g.f32s("w", &[1], &[1.0]);
        let b = g.f32s("w", &[1], &[2.0]);
        assert_eq!((a.as_str(), b.as_str()), ("w", "w_2"));
        let x = Flow { name: "x".into(), map: true, elem: data_type::FLOAT };
        let y = Flow { name: "y".into(), ..x.clone() };
        let mut blocks = Blocks::default();
        blocks.fork(&x, ());
        assert_eq!(blocks.shortcut(&y, (), "b").unwrap().0.name, "x");
        assert_eq!(blocks.close("b").unwrap().0.name, "y");
        assert!(matches!(blocks.close("b"), Err(DeployError::Residual { layer: "b", .. })));
    }
}
