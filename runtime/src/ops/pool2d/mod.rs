//! 2-D pooling on `(batch, C, H, W)` tensors: max, average, adaptive average and global average,
//! each a custom dfdx op with a hand-written backward pass.
//!
//! Semantics are PyTorch's (`ceil_mode=False`, no dilation):
//! - [`try_max_pool2d`]: padding reads as `-inf`; the backward pass routes each output's gradient to
//!   the input that won (the first maximum in row-major window order; a NaN always wins).
//! - [`try_avg_pool2d`]: `count_include_pad=True`, i.e. padding reads as 0 and every window is
//!   divided by K².
//! - [`try_adaptive_avg_pool2d`]: output bin `i` covers input rows `floor(i·H/OH) .. ceil((i+1)·H/OH)`
//!   (columns likewise), so it also upsamples (4×4 → 7×7) the way torchvision's VGG expects.
//! - [`try_global_avg_pool2d`]: one mean per channel, `(batch, C, H, W) → (batch, C)`.
//!
//! Windowed ops follow PyTorch's rule `padding ≤ kernel / 2`, and return an error (never panic) when
//! the window does not fit in the padded image.
//!
//! # How an op is wired
//! The input is first made contiguous (`reshape_like` to its own shape: free when it already is),
//! copied out with dfdx's public `copy_into` into a per-thread buffer that is reused, pooled by the loops of
//! [`crate::kernels::pool`], and wrapped in
//! a new tensor. When the input carries an [`OwnedTape`](dfdx::tensor::OwnedTape), a backward
//! closure is pushed on the tape that *adds* the input gradient; max pooling keeps 32-bit argmax
//! indices for it (only when taped), the average pools need nothing from the forward pass.
//!
//! ```
//! use dfdx::prelude::*;
//! use fasterai_runtime::ops::pool2d::{try_max_pool2d, PoolWindow};
//!
//! let dev = Cpu::default();
//! let x: Tensor<(usize, Const<1>, usize, usize), f32, Cpu> =
//!     dev.tensor_from_vec((0..16).map(|v| v as f32).collect(), (1, Const, 4, 4));
//! let y = try_max_pool2d(x.leaky_trace(), PoolWindow { kernel: 2, stride: 2, padding: 0 })?;
//! assert_eq!(y.as_vec(), [5.0, 7.0, 13.0, 15.0]);
//! let grads = y.sum().backward();
//! assert_eq!(grads.get(&x).as_vec().iter().sum::<f32>(), 4.0);
//! # Ok::<(), fasterai_runtime::nn::NnError>(())
//! ```

mod staging;
#[cfg(test)]
mod tests;

/// The slice-level pooling kernels (now in [`crate::kernels::pool::slices`]; errors are
/// `KernelError`s).
pub use crate::kernels::pool::slices;
pub use crate::kernels::pool::{adaptive_bin, PoolWindow};

use crate::kernels::pool::loops as cpu_kernel;
use crate::kernels::pool::AdaptiveGeometry;
use crate::kernels::KernelError;

use dfdx::prelude::{
    Cpu, Dim, HasShape, PutTape, ReshapeTo, Shape, SplitTape, Tape, Tensor, TensorFromVec,
};
use dfdx::tensor::CpuError;

use crate::ops::NnError;

/// The `(batch, C, H, W)` tensors the pooling ops take and give.
pub type Images<C, T> = Tensor<(usize, C, usize, usize), f32, Cpu, T>;

/// Runs `$body` with the output gradient (`&[f32]`) and the input gradient (`&mut [f32]`, to add into).
///
/// The output gradient is moved out of `Gradients` for the duration and put back afterwards, which
/// saves a copy; dfdx's `Gradients::mut_and_ref` would do the same but is crate-private. The output
/// is a tensor this op created, so its gradient is complete once this op's backward runs.
macro_rules! with_grads {
    ($grads:ident, $out_ghost:expr, $in_ghost:expr, |$g_out:ident, $g_in:ident| $body:block) => {{
        let $g_out: Vec<f32> = std::mem::take(&mut **$grads.get_or_alloc_mut(&$out_ghost)?);
        let result = $grads.get_or_alloc_mut(&$in_ghost).map(|g_in_vec| {
            let $g_in: &mut [f32] = &mut g_in_vec[..];
            let $g_out: &[f32] = &$g_out[..];
            $body
        });
        **$grads.get_or_alloc_mut(&$out_ghost)? = $g_out;
        result
    }};
}

/// A kernel floor's error as the ops' error (the pooling kernels' refusals keep their own variants
/// and messages, inside [`NnError::Kernel`]).
pub(crate) fn pool_error(err: KernelError) -> NnError {
    NnError::Kernel(err)
}

/// Wraps dfdx's device error with the op's name.
fn device_error(op: &'static str) -> impl Fn(CpuError) -> NnError {
    move |source| NnError::OpDeviceFailure { op, source }
}

/// The input made contiguous (a no-op when it is) and split from its tape.
fn contiguous<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>>(
    op: &'static str,
    x: Tensor<S, f32, Cpu, T>,
) -> Result<(Tensor<S, f32, Cpu>, T), NnError> {
    let shape = *x.shape();
    Ok(x.try_reshape_like(&shape)
        .map_err(device_error(op))?
        .split_tape())
}

/// The wiring every pooling op shares (see the [module docs](self)): `x` made contiguous and
/// staged, `forward(input, output)` run into a fresh `out_shape` buffer, and, when `x` carries a
/// tape, the backward closure `forward` returned pushed on it (it adds `g_out`'s contribution into
/// `g_in`).
fn pool_op<X, S, T, B>(
    op: &'static str,
    x: Tensor<X, f32, Cpu, T>,
    out_shape: S,
    forward: impl FnOnce(&[f32], &mut [f32]) -> B,
) -> Result<Tensor<S, f32, Cpu, T>, NnError>
where
    X: Shape,
    S: Shape,
    T: Tape<f32, Cpu>,
    B: 'static + FnOnce(&[f32], &mut [f32]),
{
    let (x, mut tape) = contiguous(op, x)?;
    let mut output = vec![0.0; out_shape.num_elements()];
    let backward = staging::with_values(&x, |input| forward(input, &mut output));
    let out = x
        .device()
        .try_tensor_from_vec(output, out_shape)
        .map_err(device_error(op))?;
    let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        with_grads!(grads, out_ghost, x_ghost, |g_out, g_in| {
            backward(g_out, g_in)
        })
    });
    Ok(out.put_tape(tape))
}

/// Max pooling over `window`; see the [module docs](self) for the exact semantics.
pub fn try_max_pool2d<C: Dim, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    window: PoolWindow,
) -> Result<Images<C, T>, NnError> {
    const OP: &str = "max_pool2d";
    let (batch, channels, height, width) = *x.shape();
    let geo = window.plane_geometry(OP, height, width).map_err(pool_error)?;
    if u32::try_from(geo.in_len()).is_err() {
        return Err(NnError::PoolImageTooLarge {
            op: OP,
            height,
            width,
        });
    }
    pool_op(OP, x, (batch, channels, geo.out_h, geo.out_w), move |input, output| {
        // The argmax indices are kept only for a backward pass.
        let mut argmax = if T::OWNS_TAPE {
            vec![0u32; output.len()]
        } else {
            Vec::new()
        };
        cpu_kernel::max_pool_forward(
            &geo,
            input,
            output,
            T::OWNS_TAPE.then_some(&mut argmax[..]),
        );
        move |g_out, g_in| cpu_kernel::max_pool_backward(&geo, &argmax, g_out, g_in)
    })
}

/// Average pooling over `window` with `count_include_pad=True`; see the [module docs](self).
pub fn try_avg_pool2d<C: Dim, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    window: PoolWindow,
) -> Result<Images<C, T>, NnError> {
    const OP: &str = "avg_pool2d";
    let (batch, channels, height, width) = *x.shape();
    let geo = window.plane_geometry(OP, height, width).map_err(pool_error)?;
    pool_op(OP, x, (batch, channels, geo.out_h, geo.out_w), move |input, output| {
        cpu_kernel::avg_pool_forward(&geo, input, output);
        move |g_out, g_in| cpu_kernel::avg_pool_backward(&geo, g_out, g_in)
    })
}

/// Adaptive average pooling to `out_height × out_width` with PyTorch's bins; see the [module docs](self).
pub fn try_adaptive_avg_pool2d<C: Dim, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    out_height: usize,
    out_width: usize,
) -> Result<Images<C, T>, NnError> {
    const OP: &str = "adaptive_avg_pool2d";
    let (batch, channels, height, width) = *x.shape();
    let geo = AdaptiveGeometry::new(OP, (height, width), (out_height, out_width)).map_err(pool_error)?;
    pool_op(OP, x, (batch, channels, out_height, out_width), move |input, output| {
        cpu_kernel::adaptive_avg_forward(&geo, input, output);
        move |g_out, g_in| cpu_kernel::adaptive_avg_backward(&geo, g_out, g_in)
    })
}

/// Global average pooling, `(batch, C, H, W) → (batch, C)`: the mean of each channel's image.
pub fn try_global_avg_pool2d<C: Dim, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
) -> Result<Tensor<(usize, C), f32, Cpu, T>, NnError> {
    const OP: &str = "global_avg_pool2d";
    let (batch, channels, height, width) = *x.shape();
    if height == 0 || width == 0 {
        return Err(NnError::Kernel(KernelError::PoolEmptyImage {
            op: OP,
            height,
            width,
        }));
    }
    let plane_len = height * width;
    pool_op(OP, x, (batch, channels), move |input, output| {
        cpu_kernel::global_avg_forward(plane_len, input, output);
        move |g_out, g_in| cpu_kernel::global_avg_backward(plane_len, g_out, g_in)
    })
}
