//! A quantized convolution: im2col (padding with the input zero point) + int8 GEMM + fused output
//! stage, one `[C, H, W]` `u8` image in, one `[O, OH, OW]` `u8` image out. The im2col is fused
//! into the packing of the activations ([`PackedActivationsU8::pack_im2col`]): the patch matrix is
//! never written whole.
//!
//! ```
//! use fasterai_runtime::kernels::conv_u8::{ConvScratch, QuantizedConv2d};
//! use fasterai_runtime::kernels::generic::im2col_u8::ConvShape;
//! use fasterai_runtime::kernels::int8::{Int8Kernels, Split};
//! use fasterai_runtime::quant::{ActivationQParams, QuantizedWeights};
//! let shape = ConvShape::new(1, 3, 3, 3, 1, 1).unwrap();
//! let w = QuantizedWeights::quantize(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 1).unwrap(); // identity
//! let p = ActivationQParams::from_range(0.0, 2.55).unwrap();
//! let kernels = Int8Kernels::best();
//! let conv = QuantizedConv2d::new(&kernels, shape, &w, None, p, p, true).unwrap();
//! let mut out = vec![0; 9];
//! conv.forward(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut out, &mut ConvScratch::default(), Split::Auto).unwrap();
//! assert_eq!(out, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
//! ```

use super::generic::im2col_u8::ConvShape;
use super::int8::{Int8Kernels, Split};
use super::pack_i8::{PackedActivationsU8, PackedWeightsI8};
use crate::quant::{ActivationQParams, OutputStage, QuantError, QuantizedWeights};

/// A conv layer in int8: packed weights and the fused output stage.
#[derive(Debug, Clone)]
pub struct QuantizedConv2d {
    kernels: Int8Kernels,
    shape: ConvShape,
    weights: PackedWeightsI8,
    stage: OutputStage,
    input: ActivationQParams,
}

/// The packed-activation buffer a conv reuses from call to call.
#[derive(Debug, Clone, Default)]
pub struct ConvScratch {
    packed: Option<PackedActivationsU8>,
}

impl QuantizedConv2d {
    /// A conv run by `kernels`, of `shape` with `weights` (`[O, C·K·K]`), real `bias` (one per output channel),
    /// input and output activation parameters, and an optional fused ReLU.
    pub fn new(
        kernels: &Int8Kernels,
        shape: ConvShape,
        weights: &QuantizedWeights,
        bias: Option<&[f32]>,
        input: ActivationQParams,
        output: ActivationQParams,
        relu: bool,
    ) -> Result<Self, QuantError> {
        if weights.fan_in != shape.depth() {
            return Err(QuantError::LengthMismatch { what: "weight rows (C·K·K)", expected: shape.depth(), found: weights.fan_in });
        }
        Ok(Self {
            kernels: *kernels,
            shape,
            weights: PackedWeightsI8::from_quantized(weights, kernels.layout)?,
            stage: OutputStage::new(input, weights, bias, output, relu)?,
            input,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weights.rows()
    }

    /// The input geometry.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// The fused output stage.
    pub fn stage(&self) -> &OutputStage {
        &self.stage
    }

    /// Runs the conv on one image `x` (`[C, H, W]`) into `out` (`[O, OH, OW]`).
    pub fn forward(&self, x: &[u8], out: &mut [u8], scratch: &mut ConvScratch, split: Split) -> Result<(), QuantError> {
        let packed = match &mut scratch.packed {
            Some(p) if p.layout() == self.kernels.layout => p,
            slot => slot.insert(self.kernels.activations()),
        };
        packed.pack_im2col(x, self.shape, self.input.zero_point)?;
        self.kernels.gemm_u8(&self.weights, packed, &self.stage, out, split)
    }
}
