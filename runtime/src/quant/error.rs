//! Errors of quantization.

/// What can go wrong choosing quantization parameters or quantizing a tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantError {
    /// An observer was asked for parameters before it saw any value.
    #[error("the {observer} observer saw no values; feed it at least one non-empty calibration batch before asking for quantization parameters")]
    EmptyCalibration {
        /// Which observer ("min-max", "percentile", "mse").
        observer: &'static str,
    },
    /// A calibration batch or a weight held NaN or an infinity.
    #[error("{what} holds a non-finite value ({value}) at index {index}; fix the model or the data before quantizing")]
    NonFinite {
        /// What was being read ("calibration batch", "weights", "bias").
        what: &'static str,
        /// Position of the first bad value.
        index: usize,
        /// The bad value.
        value: f32,
    },
    /// A scale that is not a positive finite number.
    #[error("a quantization scale must be positive and finite, got {0}")]
    InvalidScale(f32),
    /// A percentile outside (50, 100].
    #[error("percentile {0} is outside (50, 100]; use e.g. 99.99")]
    InvalidPercentile(f64),
    /// A buffer whose length does not match the sizes given with it.
    #[error("{what} has {found} values but {expected} were expected")]
    LengthMismatch {
        /// Which buffer.
        what: &'static str,
        /// The length the sizes imply.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A buffer that cannot be cut into rows of equal length.
    #[error("{what} has {len} values, which is not a whole number of {rows} rows")]
    RaggedRows {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The number of rows asked for.
        rows: usize,
    },
    /// A convolution whose kernel does not fit its padded input, or whose stride is 0.
    #[error("a {kernel}×{kernel} kernel with stride {stride} does not fit a {height}×{width} input padded by {padding}; use a smaller kernel, more padding or a stride ≥ 1")]
    ConvGeometry {
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on each side.
        padding: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
    },
    /// Operands packed in another layout than the kernels read.
    #[error("the {operand} were packed for other kernels than `{kernels}`; pack them with the same `Int8Kernels` that runs the product")]
    LayoutMismatch {
        /// The kernels asked to run.
        kernels: &'static str,
        /// Which operand ("weights", "activations").
        operand: &'static str,
    },
    /// A reduction too long for exact `i32` accumulation.
    #[error("a reduction over {depth} values can overflow the i32 accumulator (255·127 per product); the int8 kernels take at most {max}: split the layer")]
    DepthTooLarge {
        /// The reduction length asked for.
        depth: usize,
        /// The longest one accepted.
        max: usize,
    },
    /// A requantization multiplier that the fixed-point format cannot hold.
    #[error("requantization multiplier {0} is outside (0, 2^31); the output scale is far too small for the input and weight scales — recalibrate the layer")]
    MultiplierOutOfRange(f64),
    /// A bias so large, relative to the accumulator step, that it does not fit an `i32`.
    #[error("bias {bias} of channel {channel} is {steps:e} accumulator steps, beyond i32; the input or weight scale of this layer is degenerate")]
    BiasOutOfRange {
        /// Output channel.
        channel: usize,
        /// The float bias.
        bias: f32,
        /// The bias in accumulator steps.
        steps: f64,
    },
    /// A specialised kernel asked to run a shape, or on a CPU, it does not serve.
    #[error("{what}; run the layer on the int8 GEMM kernels instead")]
    UnsupportedKernel {
        /// What the kernel needs.
        what: &'static str,
    },
    /// A bit width the weight fake quantizer does not offer.
    #[error("cannot quantize weights to {0} bits; give 2 to 8 bits")]
    UnsupportedBits(u8),
}
