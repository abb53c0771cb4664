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
    /// A dfdx layer inside a derived model failed; `layer` is the field name.
    #[error("layer `{layer}` failed: {source}")]
    Layer {
        /// The field of the model.
        layer: &'static str,
        /// dfdx's error.
        #[source]
        source: dfdx::tensor::CpuError,
    },
    /// A layer of a derived model produced another shape than `#[derive(Compressible)]` computed.
    #[error("layer `{layer}` produced samples of shape {found:?} where the derived model expects {expected:?}; the layer disagrees with the derive's shape arithmetic, please report it")]
    Realize {
        /// The field of the model.
        layer: &'static str,
        /// The per-sample shape the derive computed.
        expected: Vec<usize>,
        /// The per-sample shape the layer produced.
        found: Vec<usize>,
    },
}
