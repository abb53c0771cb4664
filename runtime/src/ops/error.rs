//! Errors of the layers and the ops behind them (re-exported as `nn::NnError`).

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
    /// `Flatten::flatten_to::<N>` was asked for N features but the input has another size per sample.
    #[error("Flatten: each sample has C × H × W = {channels} × {height} × {width} = {computed} values but {expected} were expected; make the next layer take {computed} inputs (e.g. Linear<{computed}, _>) or change the layers before Flatten")]
    FlattenMismatch {
        /// Channels C of the input.
        channels: usize,
        /// Height H of the input.
        height: usize,
        /// Width W of the input.
        width: usize,
        /// `channels * height * width`.
        computed: usize,
        /// The N asked for.
        expected: usize,
    },
    /// The CPU device failed inside a layer's op (in practice: it ran out of memory).
    #[error("{op}: the CPU device failed ({source}); free memory or use a smaller batch")]
    OpDeviceFailure {
        /// The op that was running.
        op: &'static str,
        /// dfdx's error.
        source: dfdx::tensor::CpuError,
    },
    /// An image plane too large for the 32-bit argmax indices max pooling keeps for its backward pass.
    #[error("{op}: a {height}x{width} image has more than 2^32 pixels per channel, more than max pooling can index; split the image into tiles")]
    PoolImageTooLarge {
        /// The op that refused it.
        op: &'static str,
        /// Height of the input images.
        height: usize,
        /// Width of the input images.
        width: usize,
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
    /// A pooling window that does not fit its input, a zero kernel or stride, an empty image, a buffer
    /// of the wrong length (see [`KernelError`](crate::kernels::KernelError)'s `Pool*` variants), or
    /// a numeric kernel handed inconsistent sizes.
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
    /// A tapped activation that is neither a feature map nor a vector.
    #[error("tap `{layer}` has shape {shape:?}; a tap must be (batch, C, H, W) or (batch, features)")]
    TapRank {
        /// The tapped field.
        layer: &'static str,
        /// The activation's shape, batch first.
        shape: Vec<usize>,
    },
}

/// Asserts that an [`NnError`] is [`NnError::Kernel`] holding the
/// [`KernelError`](crate::kernels::KernelError) that matches the pattern given after the error
/// (a variant name and its fields, such as `PoolZeroParameter { what: "stride", .. }`).
#[cfg(test)]
macro_rules! assert_kernel_error {
    ($err:expr, $($variant:tt)+) => {{
        let err = &$err;
        assert!(
            matches!(err, $crate::ops::NnError::Kernel($crate::kernels::KernelError::$($variant)+)),
            "{err:?}"
        );
    }};
}
#[cfg(test)]
pub(crate) use assert_kernel_error;
