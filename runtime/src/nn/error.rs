//! Errors of the layers.

/// What can go wrong running or loading a layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// dfdx's CPU device failed (out of memory, or a tensor of the wrong size).
    #[error("the CPU device failed: {0:?}")]
    Device(#[from] dfdx::tensor::CpuError),
    /// A tensor in a weights file has another shape than the layer expects.
    #[error("tensor `{name}` has shape {found:?} in the file but the layer expects {expected:?}; the file was saved from another architecture")]
    ShapeMismatch {
        /// The tensor's key in the file.
        name: String,
        /// The shape the layer needs.
        expected: Vec<usize>,
        /// The shape found in the file.
        found: Vec<usize>,
    },
}
