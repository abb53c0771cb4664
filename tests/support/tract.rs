//! Running an exported ONNX file in tract (the `tract-onnx` crate): the second runtime that checks
//! the files in `tests/onnx_export.rs` and the peer of `benches/tract_peer.rs`.

use tract_onnx::prelude::*;

/// An exported model loaded and optimized by tract for batches of one image of `shape` (`[C, H, W]`
/// or `[N]`), with its run state kept from run to run.
pub struct TractPlan {
    state: TypedSimpleState,
    shape: Vec<usize>,
}

impl TractPlan {
    /// Loads `bytes` (an `.onnx` file), fixes the input to one image of `shape`, optimizes.
    pub fn new(bytes: &[u8], shape: &[usize]) -> TractResult<Self> {
        let mut dims = vec![1];
        dims.extend_from_slice(shape);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])?
            .with_input_fact(0, f32::fact(&dims).into())?
            .into_optimized()?
            .into_runnable()?;
        Ok(Self { state: plan.spawn()?, shape: dims })
    }

    /// The logits of one image.
    pub fn run(&mut self, image: &[f32]) -> TractResult<Vec<f32>> {
        let input = Tensor::from_shape(&self.shape, image)?;
        let outputs = self.state.run(tvec!(input.into()))?;
        Ok(outputs[0].to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}
