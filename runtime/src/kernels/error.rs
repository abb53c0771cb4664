//! Errors of the numeric kernels: wrong sizes or parameters handed to a kernel, an unknown
//! instruction-set tier.

/// A kernel was called with buffers or views whose sizes do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A matrix view reaches past the end of its slice.
    #[error("a {rows}x{cols} view with strides ({row_stride}, {col_stride}) does not fit in a slice of {len} elements")]
    ViewOutOfBounds {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Distance between consecutive rows.
        row_stride: usize,
        /// Distance between consecutive columns.
        col_stride: usize,
        /// Length of the slice.
        len: usize,
    },
    /// A destination view maps two elements to one memory location.
    #[error("a {rows}x{cols} destination with strides ({row_stride}, {col_stride}) writes some elements twice; use strides that keep elements apart")]
    AliasingDestination {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Distance between consecutive rows.
        row_stride: usize,
        /// Distance between consecutive columns.
        col_stride: usize,
    },
    /// `dst = lhs · rhs` with shapes that do not chain.
    #[error("cannot multiply {lhs:?} by {rhs:?} into {dst:?} (shapes are rows x cols)")]
    ProductShape {
        /// Destination shape.
        dst: (usize, usize),
        /// Left operand shape.
        lhs: (usize, usize),
        /// Right operand shape.
        rhs: (usize, usize),
    },
    /// The kernel is larger than the zero-padded image.
    #[error("kernel {kernel}x{kernel} is larger than the padded image {padded_height}x{padded_width}; use a larger image, more padding or a smaller kernel")]
    KernelLargerThanImage {
        /// Kernel side.
        kernel: usize,
        /// Image height plus twice the padding.
        padded_height: usize,
        /// Image width plus twice the padding.
        padded_width: usize,
    },
    /// Kernel side or stride is zero.
    #[error("kernel side ({kernel}) and stride ({stride}) must both be at least 1")]
    ZeroKernelOrStride {
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Image or column buffer length disagrees with the geometry.
    #[error("buffers of {image} (image) and {col} (columns) elements given, the geometry needs {expected_image} and {expected_col}")]
    BufferLength {
        /// Image buffer length given.
        image: usize,
        /// Image buffer length needed.
        expected_image: usize,
        /// Column buffer length given.
        col: usize,
        /// Column buffer length needed.
        expected_col: usize,
    },
    /// Batched convolution buffers disagree with the problem's sizes.
    #[error("convolution buffers of {input} (input), {weight} (weight), {output} (output) elements given, the sizes need {expected_input}, {expected_weight} and {expected_output}")]
    ConvBuffers {
        /// Input length given.
        input: usize,
        /// Weight length given.
        weight: usize,
        /// Output (or output-gradient) length given.
        output: usize,
        /// Input length needed.
        expected_input: usize,
        /// Weight length needed.
        expected_weight: usize,
        /// Output length needed.
        expected_output: usize,
    },
    /// A block of output rows outside the output image.
    #[error("output rows {start}..{end} are not inside 0..{out_height}")]
    RowRange {
        /// First row of the block.
        start: usize,
        /// One past the last row.
        end: usize,
        /// Output height.
        out_height: usize,
    },
    /// A matrix-vector operand whose length does not match the matrix's shape.
    #[error("the {operand} slice holds {found} values, the matrix shape needs {expected}; pass buffers sized rows × cols, cols and rows")]
    OperandLength {
        /// Which operand (`weight`, `x` or `y`).
        operand: &'static str,
        /// Values the shape needs.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A kernel that only runs stride-1 convolutions was given another stride.
    #[error("this convolution kernel runs stride 1 only, the geometry has stride {stride}; run other strides through im2col and gemm")]
    StrideNotOne {
        /// The geometry's stride.
        stride: usize,
    },
    /// A kernel for 3×3 convolutions only was given another kernel size.
    #[error("this convolution kernel runs 3×3 kernels only, the geometry has {kernel}×{kernel}; run other sizes through the direct kernel")]
    KernelNotThree {
        /// The geometry's kernel side.
        kernel: usize,
    },
    /// `rows × cols` does not fit in `usize`.
    #[error("a {rows} × {cols} matrix has more elements than memory can address")]
    SizeOverflow {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// A pooling parameter that must be at least 1 is 0 (kernel, stride, or an adaptive output size).
    #[error("{op}: the {what} is 0 but must be at least 1; fix the layer's const parameters")]
    PoolZeroParameter {
        /// The op that refused it, e.g. `max_pool2d`.
        op: &'static str,
        /// Which parameter, e.g. `stride`.
        what: &'static str,
    },
    /// Padding larger than half the kernel, which PyTorch rejects too: a window could then lie entirely in the padding.
    #[error("{op}: padding {padding} is more than half the kernel size {kernel}; use padding at most {max_padding} (PyTorch has the same rule)")]
    PoolPaddingTooLarge {
        /// The op that refused it.
        op: &'static str,
        /// The kernel size K of the K x K window.
        kernel: usize,
        /// The padding asked for, on each side.
        padding: usize,
        /// The largest padding allowed, `kernel / 2`.
        max_padding: usize,
    },
    /// The pooling window does not fit in the padded input even once.
    #[error("{op}: the {kernel}x{kernel} window is larger than the padded input {padded_height}x{padded_width} (the {height}x{width} image plus padding {padding} on each side); use a smaller kernel or a larger image")]
    PoolWindowTooLarge {
        /// The op that refused it.
        op: &'static str,
        /// The kernel size K of the K x K window.
        kernel: usize,
        /// The padding on each side.
        padding: usize,
        /// Height of the input images.
        height: usize,
        /// Width of the input images.
        width: usize,
        /// `height + 2 * padding`.
        padded_height: usize,
        /// `width + 2 * padding`.
        padded_width: usize,
    },
    /// The input images have no pixels.
    #[error("{op}: the input images are {height}x{width}; pooling needs at least one pixel in each direction")]
    PoolEmptyImage {
        /// The op that refused it.
        op: &'static str,
        /// Height of the input images.
        height: usize,
        /// Width of the input images.
        width: usize,
    },
    /// A raw buffer handed to a slice-level pooling kernel has the wrong length for the dims given.
    #[error("{op}: the {buffer} buffer holds {found} values but {planes} planes of {height}x{width} need {expected}")]
    PoolBufferLength {
        /// The kernel that refused it.
        op: &'static str,
        /// `input` or `output`.
        buffer: &'static str,
        /// Planes (batch × channels) the call described.
        planes: usize,
        /// Height of the planes in that buffer.
        height: usize,
        /// Width of the planes in that buffer.
        width: usize,
        /// `planes * height * width`.
        expected: usize,
        /// The buffer's length.
        found: usize,
    },
    /// `FASTERAI_MAX_ISA` (or a parsed tier name) is not one of the tiers.
    #[error("`{value}` is not an instruction-set tier; use one of portable, neon, avx2, dotprod, avxvnni, avx512, avx512vnni, amx")]
    UnknownIsa {
        /// The value given.
        value: String,
    },
}
