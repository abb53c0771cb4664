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
    /// A convolution's kernel does not fit in the zero-padded input image.
    #[error("conv2d kernel {kernel}x{kernel} is larger than the input image {height}x{width} padded by {padding} on each side ({padded_height}x{padded_width}); feed a larger image or use more padding")]
    KernelLargerThanImage {
        /// Kernel side `K`.
        kernel: usize,
        /// Zero padding `P` on each side.
        padding: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// `height + 2P`.
        padded_height: usize,
        /// `width + 2P`.
        padded_width: usize,
    },
    /// The dfdx CPU device failed (out of memory, or a buffer of the wrong length).
    #[error("dfdx CPU device error: {0}")]
    Device(#[from] dfdx::tensor::CpuError),
    /// A numeric kernel was handed inconsistent sizes (a bug in the caller; please report it).
    #[error(transparent)]
    Kernel(#[from] crate::kernels::KernelError),
    /// A weights file is missing a tensor the model needs.
    #[error("tensor `{name}` is missing from the weights file; the file was saved from another architecture")]
    MissingTensor {
        /// The tensor's key.
        name: String,
    },
    /// A weights file stores a tensor in another number type than the model's.
    #[error("tensor `{name}` is stored as {found} but the model needs {expected}")]
    DtypeMismatch {
        /// The tensor's key.
        name: String,
        /// The dtype the model needs.
        expected: String,
        /// The dtype found in the file.
        found: String,
    },
    /// Reading or writing a weights file failed.
    #[error("cannot {action} weights file {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A weights file is not valid safetensors, or dfdx rejected it.
    #[error("weights file {path}: {message}")]
    Safetensors {
        /// The file.
        path: std::path::PathBuf,
        /// What the safetensors reader said.
        message: String,
    },
    /// Training-mode batch norm needs at least two values per channel to estimate a variance.
    #[error("batch norm in training mode got {count} value(s) per channel; it needs at least 2 (use a larger batch or image, or inference mode)")]
    BatchNormTooFewValues {
        /// `batch · H · W`.
        count: usize,
    },
}
