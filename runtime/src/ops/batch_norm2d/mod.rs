//! Batch normalisation over `(batch, C, H, W)` fused with an optional ReLU, as a tape-aware op
//! working on dfdx's own [`BatchNorm2D`] parameters (same fields, same running-statistics rule).
//!
//! dfdx's `BatchNorm2D` composes about a dozen generic broadcast/reduce ops, each a
//! single-threaded strided pass with its own temporary; in a SmallVgg training step it costs as
//! much as all convolutions together. This op makes two parallel passes forward (statistics,
//! then normalise-and-rectify) and two backward, keeping only the input and per-channel values.
//!
//! - [`batch_norm2d_train`]: batch statistics, running statistics updated exactly as dfdx does
//!   (momentum, unbiased variance in the running estimate), gradients to `x`, `scale`, `bias`.
//! - [`batch_norm2d_infer`]: running statistics, no tape.

pub(crate) mod cpu_kernel;
#[cfg(test)]
mod tests;

use dfdx::prelude::{
    Const, Cpu, HasShape, NoneTape, PutTape, ReshapeTo, Shape, SplitTape, Tape, Tensor,
    TensorFromVec,
};
use dfdx::tensor::Gradients;

use crate::nn::{BatchNorm2D, NnError};

/// What follows the normalisation inside the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Nothing: the plain batch norm.
    Identity,
    /// `max(0, ·)`, so `bn → relu` is one pass.
    Relu,
}

/// A batch of NCHW images with `C` channels and run-time batch size, height and width.
pub type Images<const C: usize, T> = Tensor<(usize, Const<C>, usize, usize), f32, Cpu, T>;

fn add_into(acc: &mut [f32], values: &[f32]) {
    for (a, v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

/// Training-mode batch norm (+ optional ReLU): normalises with the batch's statistics, updates
/// `bn.running_mean` / `bn.running_var` like dfdx (`r ← (1 − m)·r + m·stat`, variance unbiased),
/// and records the backward to `x`, `bn.weight` and `bn.bias` on `x`'s tape.
///
/// Errors with [`NnError::BatchNormTooFewValues`] when a channel has fewer than two values.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::nn::BatchNorm2D;
/// use fasterai_runtime::ops::batch_norm2d::{batch_norm2d_train, Activation};
/// let dev = Cpu::default();
/// let mut bn: BatchNorm2D<2> = BuildModule::build(&dev);
/// let x = dev.tensor_from_vec(vec![1.0, 3.0, 0.0, 0.0, 5.0, 7.0, 2.0, 2.0], (2, Const::<2>, 1, 2));
/// let y = batch_norm2d_train(x.leaky_trace(), &mut bn, Activation::Relu)?;
/// assert!(y.as_vec().iter().all(|&v| v >= 0.0));
/// assert_eq!(bn.running_mean.as_vec(), vec![0.4, 0.1]); // 0.1 · batch mean (4, 1)
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn batch_norm2d_train<const C: usize, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    bn: &mut BatchNorm2D<C>,
    activation: Activation,
) -> Result<Images<C, T>, NnError> {
    let (batch, _, height, width) = *x.shape();
    let plane = height * width;
    let count = batch * plane;
    if count < 2 {
        return Err(NnError::BatchNormTooFewValues { count });
    }
    let x = x.try_contiguous()?;
    let (x, mut tape) = x.split_tape();
    let mut x_buf = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut x_buf);

    let stats = cpu_kernel::channel_stats(&x_buf, C, plane);
    let (scale, bias) = (bn.weight.as_vec(), bn.bias.as_vec());
    let inv_std: Vec<f32> = stats
        .var
        .iter()
        .map(|v| 1.0 / (v + bn.epsilon as f32).sqrt())
        .collect();
    let a: Vec<f32> = (0..C).map(|c| scale[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..C).map(|c| bias[c] - stats.mean[c] * a[c]).collect();
    let relu = activation == Activation::Relu;
    let mut out_buf = vec![0.0f32; x_buf.len()];
    cpu_kernel::affine(&x_buf, &a, &b, relu, plane, &mut out_buf);
    let out = x.device().try_tensor_from_vec(out_buf, *x.shape())?;

    // Running statistics, as dfdx updates them (in f64, stored as f32).
    let m = bn.momentum;
    let unbias = count as f64 / (count as f64 - 1.0);
    let blend = |running: Vec<f32>, stat: &[f32], factor: f64| -> Vec<f32> {
        running
            .iter()
            .zip(stat)
            .map(|(&r, &s)| ((1.0 - m) * r as f64 + m * factor * s as f64) as f32)
            .collect()
    };
    let running_mean = blend(bn.running_mean.as_vec(), &stats.mean, 1.0);
    let running_var = blend(bn.running_var.as_vec(), &stats.var, unbias);
    bn.running_mean.copy_from(&running_mean);
    bn.running_var.copy_from(&running_var);

    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (scale_ghost, bias_ghost) = (bn.weight.ghost(), bn.bias.ghost());
        let mean = stats.mean;
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let g_out: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let (dscale, dbias) = {
                let g_in = grads.get_or_alloc_mut(&x_ghost)?;
                cpu_kernel::backward(
                    &x_buf, &g_out, &mean, &inv_std, &scale, &bias, relu, plane, g_in,
                )
            };
            **grads.get_or_alloc_mut(&out_ghost)? = g_out;
            add_into(grads.get_or_alloc_mut(&scale_ghost)?, &dscale);
            add_into(grads.get_or_alloc_mut(&bias_ghost)?, &dbias);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Inference-mode batch norm (+ optional ReLU) with the running statistics: one parallel pass.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::nn::BatchNorm2D;
/// use fasterai_runtime::ops::batch_norm2d::{batch_norm2d_infer, Activation};
/// let dev = Cpu::default();
/// let bn: BatchNorm2D<1> = BuildModule::build(&dev); // mean 0, var 1, scale 1, bias 0
/// let x = dev.tensor_from_vec(vec![-2.0, 3.0], (1, Const::<1>, 1, 2));
/// let y = batch_norm2d_infer(x, &bn, Activation::Relu)?.as_vec();
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 3.0).abs() < 1e-4);
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn batch_norm2d_infer<const C: usize>(
    x: Images<C, NoneTape>,
    bn: &BatchNorm2D<C>,
    activation: Activation,
) -> Result<Images<C, NoneTape>, NnError> {
    let (_, _, height, width) = *x.shape();
    let x = x.try_contiguous()?;
    let mut x_buf = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut x_buf);
    let (scale, bias) = (bn.weight.as_vec(), bn.bias.as_vec());
    let (mean, var) = (bn.running_mean.as_vec(), bn.running_var.as_vec());
    let a: Vec<f32> = (0..C)
        .map(|c| scale[c] / (var[c] + bn.epsilon as f32).sqrt())
        .collect();
    let b: Vec<f32> = (0..C).map(|c| bias[c] - mean[c] * a[c]).collect();
    let mut out_buf = vec![0.0f32; x_buf.len()];
    cpu_kernel::affine(
        &x_buf,
        &a,
        &b,
        activation == Activation::Relu,
        height * width,
        &mut out_buf,
    );
    Ok(x.device().try_tensor_from_vec(out_buf, *x.shape())?)
}
