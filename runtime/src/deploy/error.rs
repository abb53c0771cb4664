//! Errors of the inference plans (fp32 [`accelerate`](super::accelerate()) and int8
//! [`quantize_static`](super::quantize_static)).

use std::path::PathBuf;

/// What can go wrong building, running, saving or loading an inference plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A layer kind the plans do not run.
    #[error("layer `{layer}` is a {kind}, which the inference plans do not support ({hint})")]
    UnsupportedLayer {
        /// The field name.
        layer: &'static str,
        /// Its kind, as written in the model.
        kind: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The residual structure of a plan is broken (a plan built from a model's description never is).
    #[error("residual node `{layer}`: {reason}; rebuild the plan from the model")]
    Residual {
        /// The node (`layer1.0:add`).
        layer: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A BatchNorm that does not directly follow the conv (BatchNorm2D) or linear (BatchNorm1D) layer
    /// it normalizes, so it cannot be folded.
    #[error("BatchNorm `{layer}` does not directly follow a {expected} layer (it follows {after}); only a BatchNorm right after its conv/linear layer can be folded into it — reorder the model or fold it yourself")]
    UnfoldableBatchNorm {
        /// The BatchNorm's field name.
        layer: &'static str,
        /// The layer kind it must follow ("Conv2D" or "Linear").
        expected: &'static str,
        /// What it follows instead.
        after: String,
    },
    /// A layer whose input is not the shape it needs (a pooling on a flat vector, say).
    #[error("layer `{layer}` needs {needs} input but receives {found}")]
    ShapeKind {
        /// The field name.
        layer: &'static str,
        /// The kind of input it needs.
        needs: &'static str,
        /// The shape it receives.
        found: String,
    },
    /// A scalar (a BatchNorm's epsilon) missing from the model.
    #[error("the model has no scalar named `{name}`; is the layer a BatchNorm of this crate or of dfdx?")]
    MissingScalar {
        /// The scalar's name.
        name: String,
    },
    /// An image of the wrong size was given to `run`.
    #[error("the plan takes images of {expected} values ({shape}) but was given {found}")]
    InputLength {
        /// Values per image.
        expected: usize,
        /// The model's input shape.
        shape: String,
        /// Values given.
        found: usize,
    },
    /// A batch whose length is not `images × values per image`.
    #[error("{what} holds {found} values, which is not {images} images of {per_image} values")]
    BatchLength {
        /// Which buffer ("batch", "calibration set").
        what: &'static str,
        /// Images announced.
        images: usize,
        /// Values per image.
        per_image: usize,
        /// Values given.
        found: usize,
    },
    /// Static quantization needs calibration images.
    #[error("the calibration set is empty; pass at least one image (a few hundred representative ones is typical)")]
    EmptyCalibration,
    /// A quantized model file whose tensors do not match the model type it is loaded as.
    #[error("tensor `{name}` of {path}: {problem}")]
    FileTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong (missing, dtype, shape, unexpected).
        problem: String,
    },
    /// The file could not be parsed as safetensors.
    #[error("{path} is not a readable safetensors file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A plan that cannot be written as ONNX (a plan built by this crate always can).
    #[error("cannot export layer `{layer}` to ONNX: {reason}; rebuild the plan from the model")]
    Export {
        /// The layer.
        layer: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A file was to be written into a directory that does not exist.
    #[error("cannot write {path}: the directory {dir} does not exist; create it first (nothing was written)")]
    NoDirectory {
        /// The file that was to be written.
        path: PathBuf,
        /// Its missing directory.
        dir: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// "read", "write" or "rename".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model tensor could not be read.
    #[error(transparent)]
    Tensor(#[from] crate::model::TensorAccessError),
    /// A BatchNorm could not be folded.
    #[error(transparent)]
    Fold(#[from] crate::nn::fold::FoldError),
    /// A kernel rejected its operands.
    #[error(transparent)]
    Kernel(#[from] crate::kernels::KernelError),
    /// Quantization failed.
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    /// A pooling layer rejected its buffers.
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    /// A figure of the plan could not be formed (an accuracy over an empty set).
    #[error(transparent)]
    Measure(#[from] crate::measure::MeasureError),
}

impl DeployError {
    /// A shortcut or add node at `layer` with no residual block open before it.
    pub(crate) fn no_open_block(layer: &'static str) -> Self {
        Self::Residual { layer, reason: "no residual block is open" }
    }
}
