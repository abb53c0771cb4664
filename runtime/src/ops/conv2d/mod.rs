//! 2-D convolution as a tape-aware dfdx op: forward, and a hand-written backward to the input,
//! the weight and the bias, on dfdx's public tape API.
//!
//! - [`conv2d`]: the op (any batch, stride, padding, non-square images, with or without bias).
//! - `cpu_kernel.rs`: im2col + GEMM loops, parallel over the batch (see its header for the layout).
//! - `split_conv.rs`: the batch-1 forward on the plans' direct kernel, split over the cores by
//!   output channels.
//! - `reference.rs`: a direct seven-loop convolution in `f64` the tests compare with.

mod cpu_kernel;
mod split_conv;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use dfdx::prelude::{
    Const, Cpu, HasShape, PutTape, Rank1, Rank4, ReshapeTo, Shape, SplitTape, Tape, Tensor,
    TensorFromVec,
};
use dfdx::tensor::{CpuError, Gradients};

use crate::kernels::{ConvGeometry, KernelError};
use crate::ops::tensor_io::{borrow_values, read_vec};
use crate::ops::NnError;
pub use cpu_kernel::ConvProblem;
/// The slice-level kernels behind [`conv2d`], for callers that manage their own buffers
/// (inference plans, benchmarks): `forward_kernel(problem, x, w, bias, out)` overwrites `out`;
/// `backward_kernel(problem, x, w, g_out, g_in)` adds into `g_in` and returns `(dW, db)`.
pub use cpu_kernel::{backward as backward_kernel, forward as forward_kernel};

/// Stride and zero padding of a convolution; the kernel size comes from the weight's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between neighbouring receptive fields, in pixels (at least 1).
    pub stride: usize,
    /// Zeros added on each side of the image.
    pub padding: usize,
}

/// A batch of NCHW images with `C` channels and run-time batch size, height and width.
pub type Images<const C: usize, T> = Tensor<(usize, Const<C>, usize, usize), f32, Cpu, T>;

/// Cross-correlation of `x` (`batch × I × H × W`) with `weight` (`O × I × K × K`) plus `bias`,
/// giving `batch × O × OH × OW` with `OH = (H + 2P − K)/S + 1` (likewise `OW`), as PyTorch's
/// `conv2d`. Records its backward on `x`'s tape: gradients accumulate into `x`, `weight` and
/// `bias`.
///
/// Errors with [`NnError::KernelLargerThanImage`] if the kernel does not fit in the padded image.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::ops::conv2d::{conv2d, Conv2dParams};
/// let dev = Cpu::default();
/// let x = dev.ones_like(&(2, Const::<1>, 4, 5));
/// let w: Tensor<Rank4<3, 1, 3, 3>, f32, _> = dev.ones();
/// let y = conv2d(x, &w, None, Conv2dParams { stride: 1, padding: 1 })?;
/// assert_eq!(y.shape().concrete(), [2, 3, 4, 5]);
/// assert_eq!(y.as_vec()[0], 4.0); // corner: 2x2 ones inside the padding
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn conv2d<const I: usize, const O: usize, const K: usize, T: Tape<f32, Cpu>>(
    x: Images<I, T>,
    weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
    params: Conv2dParams,
) -> Result<Images<O, T>, NnError> {
    let (batch, _, height, width) = *x.shape();
    let Conv2dParams { stride, padding } = params;
    let geometry =
        ConvGeometry::new(I, height, width, K, stride, padding).map_err(|e| match e {
            KernelError::KernelLargerThanImage {
                padded_height,
                padded_width,
                ..
            } => NnError::KernelLargerThanImage {
                kernel: K,
                padding,
                height,
                width,
                padded_height,
                padded_width,
            },
            other => other.into(),
        })?;
    let problem = ConvProblem {
        batch,
        geometry,
        out_channels: O,
    };
    let shape_out = (
        batch,
        Const::<O>,
        geometry.out_height(),
        geometry.out_width(),
    );

    // A non-contiguous input is first copied (on the tape) so its physical order is logical.
    let x = x.try_contiguous()?;
    let (x, mut tape) = x.split_tape();
    let mut out_buf = vec![0.0f32; batch * problem.out_image_len()];
    if !T::OWNS_TAPE {
        // Inference: nothing is kept for a backward, so the kernels read the tensors in place.
        // `Some(None)`: no bias; `None`: a bias that cannot be borrowed.
        let b_buf = bias.map_or(Some(None), |b| borrow_values(b).map(Some));
        if let (Some(x_buf), Some(w_buf), Some(b_buf)) = (borrow_values(&x), borrow_values(weight), b_buf) {
            cpu_kernel::forward(&problem, x_buf, w_buf, b_buf, &mut out_buf)?;
            return Ok(x.device().try_tensor_from_vec(out_buf, shape_out)?.put_tape(tape));
        }
    }
    let mut x_buf = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut x_buf);
    let w_buf = read_vec(weight)?;
    let b_buf = bias.map(read_vec).transpose()?;

    cpu_kernel::forward(&problem, &x_buf, &w_buf, b_buf.as_deref(), &mut out_buf)?;
    let out = x.device().try_tensor_from_vec(out_buf, shape_out)?;

    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let w_ghost = weight.ghost();
        let b_ghost = bias.map(|b| b.ghost());
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            // Borrow the output gradient by moving it out (no copy) and back once done.
            let g_out: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let result = {
                let g_in = grads.get_or_alloc_mut(&x_ghost)?;
                cpu_kernel::backward(&problem, &x_buf, &w_buf, &g_out, g_in)
            };
            **grads.get_or_alloc_mut(&out_ghost)? = g_out;
            // Sizes were validated by the forward pass; a failure here is a bug in this file.
            let (dw, db) = result.map_err(|_| CpuError::WrongNumElements)?;
            add_into(grads.get_or_alloc_mut(&w_ghost)?, &dw);
            if let Some(b_ghost) = b_ghost {
                add_into(grads.get_or_alloc_mut(&b_ghost)?, &db);
            }
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

fn add_into(acc: &mut [f32], values: &[f32]) {
    for (a, v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

/// Multiply-adds times two of one forward pass: `2 · batch · O · OH · OW · I · K · K`.
/// The backward pass costs twice this (input and weight gradients).
pub fn conv2d_flops(batch: usize, geometry: &ConvGeometry, out_channels: usize) -> u64 {
    2 * (batch * out_channels * geometry.out_len() * geometry.col_rows()) as u64
}
