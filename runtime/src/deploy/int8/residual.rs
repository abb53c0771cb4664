//! Residual blocks in the int8 plan. `Fork` and `Shortcut` move `u8` maps and their quantization
//! as they are; `Add` has its own output quantization (observed in calibration, stored in the file
//! as `<block>:add.output_scale` and `.output_zero_point`) and adds the two sides on it with
//! [`AddRequant`]: the side that arrives (the layer's `input`) and the other one, which is the
//! quantization the block kept (its `Fork`'s input) or, after a shortcut, the main path's (its
//! `Shortcut`'s input).

use super::Int8Layer;
use crate::deploy::graph::{Node, Op};
use crate::deploy::DeployError;
use crate::quant::{ActivationQParams, AddRequant};

/// The quantization flowing from node to node while a plan is assembled, through the blocks.
pub(crate) struct QuantChain {
    current: ActivationQParams,
    kept: Vec<ActivationQParams>,
}

impl QuantChain {
    pub(crate) fn new(input: ActivationQParams) -> Self {
        Self { current: input, kept: Vec::new() }
    }

    /// The quantization of what the next node receives.
    pub(crate) fn current(&self) -> ActivationQParams {
        self.current
    }

    /// Moves on past a conv or linear layer.
    pub(crate) fn advance(&mut self, layer: &Int8Layer) {
        self.current = layer.output.unwrap_or(self.current);
    }

    /// The layer of a node without weights: pooling and ReLU keep their input's quantization, a
    /// `Shortcut` takes up the kept input's, an `Add` gets `add_output` (observed, or read from a file).
    pub(crate) fn plain(
        &mut self,
        node: Node,
        add_output: impl FnOnce() -> Result<ActivationQParams, DeployError>,
    ) -> Result<Int8Layer, DeployError> {
        let input = self.current;
        let unbalanced = || DeployError::no_open_block(node.layer);
        let output = match node.op {
            Op::Fork => {
                self.kept.push(input);
                input
            }
            Op::Shortcut => *self.kept.last().ok_or_else(unbalanced)?,
            Op::Add { .. } => {
                self.kept.pop().ok_or_else(unbalanced)?;
                add_output()?
            }
            _ => input,
        };
        self.current = output;
        Ok(Int8Layer { node, input, output: Some(output), weights: None, bias: Vec::new() })
    }
}

/// The stage of every `Add` layer (`None` for the others), each adding the layer's input to the
/// other side of its block.
pub(crate) fn add_stages(layers: &[Int8Layer]) -> Result<Vec<Option<AddRequant>>, DeployError> {
    let mut other: Vec<ActivationQParams> = Vec::new();
    layers
        .iter()
        .map(|layer| {
            let unbalanced = || DeployError::no_open_block(layer.node.layer);
            match layer.node.op {
                Op::Fork => other.push(layer.input),
                Op::Shortcut => *other.last_mut().ok_or_else(unbalanced)? = layer.input,
                Op::Add { relu } => {
                    let other = other.pop().ok_or_else(unbalanced)?;
                    let output = layer.output.ok_or(DeployError::Residual { layer: layer.node.layer, reason: "an add needs output parameters" })?;
                    return Ok(Some(AddRequant::new(layer.input, other, output, relu)?));
                }
                _ => {}
            }
            Ok(None)
        })
        .collect()
}
