//! Errors of the layers.

/// What can go wrong running or loading a layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
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
