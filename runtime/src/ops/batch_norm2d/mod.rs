//! Batch normalisation over `(batch, C, H, W)`, optionally fused with a ReLU: the one batch-norm
//! op behind both the [`BatchNorm2D`](crate::nn::BatchNorm2D) layer and the derived models.
//!
//! dfdx's own batch norm composes about a dozen generic broadcast/reduce ops, each a
//! single-threaded strided pass with its own temporary. This op makes two parallel passes forward
//! (statistics, then normalise-and-rectify) and two backward, keeping only the input and
//! per-channel values.
//!
//! - [`batch_norm2d_train`]: batch statistics; the running statistics are updated as PyTorch does
//!   (`momentum` weighs the new batch, the running variance is unbiased); gradients to `x`, the
//!   scale and the bias when `x` carries a tape.
//! - [`batch_norm2d_eval`]: running statistics, nothing updated; gradients still flow when `x`
//!   carries a tape (a frozen batch norm being fine-tuned through).

pub(crate) mod cpu_kernel;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use dfdx::prelude::{Const, Cpu, HasShape, PutTape, Rank1, ReshapeTo, Shape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor::Gradients;

use super::NnError;

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

/// The parameters and running statistics of one batch-norm layer, borrowed from it.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::ops::batch_norm2d::{batch_norm2d_eval, Activation, BnParams};
/// let dev = Cpu::default();
/// let (weight, bias) = (dev.tensor([2.0f32]), dev.tensor([1.0f32]));
/// let (mut mean, mut var) = (dev.tensor([0.5f32]), dev.tensor([4.0f32]));
/// let p = BnParams { weight: &weight, bias: &bias, running_mean: &mut mean, running_var: &mut var, epsilon: 0.0, momentum: 0.1 };
/// let x = dev.tensor_from_vec(vec![2.5f32, -7.5], (1, Const::<1>, 1, 2));
/// let y = batch_norm2d_eval(x, p, Activation::Relu)?.as_vec();
/// assert_eq!(y, vec![3.0, 0.0]); // (2.5 − 0.5) / 2 · 2 + 1, and the ReLU cuts −3
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub struct BnParams<'a, const C: usize> {
    /// Per-channel scale γ.
    pub weight: &'a Tensor<Rank1<C>, f32, Cpu>,
    /// Per-channel shift β.
    pub bias: &'a Tensor<Rank1<C>, f32, Cpu>,
    /// Running mean: read in evaluation, updated in training.
    pub running_mean: &'a mut Tensor<Rank1<C>, f32, Cpu>,
    /// Running variance: read in evaluation, updated (unbiased) in training.
    pub running_var: &'a mut Tensor<Rank1<C>, f32, Cpu>,
    /// Added to the variance before the square root.
    pub epsilon: f64,
    /// Weight of a new batch in the running statistics.
    pub momentum: f64,
}

fn add_into(acc: &mut [f32], values: &[f32]) {
    for (a, v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

fn read<const C: usize>(x: &Tensor<Rank1<C>, f32, Cpu>) -> Vec<f32> {
    x.as_vec()
}

/// Training-mode batch norm (+ optional ReLU): normalises with the batch's statistics, updates the
/// running statistics (`r ← (1 − m)·r + m·stat`, the variance unbiased; a single value per
/// channel counts as unbiased already), and records the backward to `x`, `weight` and `bias` on
/// `x`'s tape when it owns one.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::ops::batch_norm2d::{batch_norm2d_train, Activation, BnParams};
/// let dev = Cpu::default();
/// let (weight, bias) = (dev.tensor([1.0f32; 2]), dev.tensor([0.0f32; 2]));
/// let (mut mean, mut var) = (dev.tensor([0.0f32; 2]), dev.tensor([1.0f32; 2]));
/// let p = BnParams { weight: &weight, bias: &bias, running_mean: &mut mean, running_var: &mut var, epsilon: 1e-5, momentum: 0.1 };
/// let x = dev.tensor_from_vec(vec![1.0, 3.0, 0.0, 0.0, 5.0, 7.0, 2.0, 2.0], (2, Const::<2>, 1, 2));
/// let y = batch_norm2d_train(x.leaky_trace(), p, Activation::Relu)?;
/// assert!(y.as_vec().iter().all(|&v| v >= 0.0));
/// assert_eq!(mean.as_vec(), vec![0.4, 0.1]); // 0.1 · batch mean (4, 1)
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn batch_norm2d_train<const C: usize, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    p: BnParams<'_, C>,
    activation: Activation,
) -> Result<Images<C, T>, NnError> {
    let (batch, _, height, width) = *x.shape();
    let plane = height * width;
    let count = batch * plane;
    let x = x.try_contiguous()?;
    let (x, mut tape) = x.split_tape();
    let mut x_buf = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut x_buf);

    let stats = cpu_kernel::channel_stats(&x_buf, C, plane);
    let (scale, bias) = (read(p.weight), read(p.bias));
    let inv_std: Vec<f32> = stats.var.iter().map(|v| 1.0 / (v + p.epsilon as f32).sqrt()).collect();
    let a: Vec<f32> = (0..C).map(|c| scale[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..C).map(|c| bias[c] - stats.mean[c] * a[c]).collect();
    let relu = activation == Activation::Relu;
    let mut out_buf = vec![0.0f32; x_buf.len()];
    cpu_kernel::affine(&x_buf, &a, &b, relu, plane, &mut out_buf);
    let out = x.device().try_tensor_from_vec(out_buf, *x.shape())?;

    // Running statistics, blended in f64 and stored as f32.
    let m = p.momentum;
    let unbias = if count > 1 { count as f64 / (count as f64 - 1.0) } else { 1.0 };
    let blend = |running: Vec<f32>, stat: &[f32], factor: f64| -> Vec<f32> {
        running.iter().zip(stat).map(|(&r, &s)| ((1.0 - m) * r as f64 + m * factor * s as f64) as f32).collect()
    };
    let running_mean = blend(read(p.running_mean), &stats.mean, 1.0);
    let running_var = blend(read(p.running_var), &stats.var, unbias);
    p.running_mean.copy_from(&running_mean);
    p.running_var.copy_from(&running_var);

    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (scale_ghost, bias_ghost) = (p.weight.ghost(), p.bias.ghost());
        let mean = stats.mean;
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let g_out: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let (dscale, dbias) = {
                let g_in = grads.get_or_alloc_mut(&x_ghost)?;
                cpu_kernel::backward(&x_buf, &g_out, &mean, &inv_std, &scale, &bias, relu, plane, g_in)
            };
            **grads.get_or_alloc_mut(&out_ghost)? = g_out;
            add_into(grads.get_or_alloc_mut(&scale_ghost)?, &dscale);
            add_into(grads.get_or_alloc_mut(&bias_ghost)?, &dbias);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Evaluation-mode batch norm (+ optional ReLU) with the running statistics, which it leaves as
/// they are: one parallel pass, and a backward to `x`, `weight` and `bias` when `x` owns a tape.
pub fn batch_norm2d_eval<const C: usize, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    p: BnParams<'_, C>,
    activation: Activation,
) -> Result<Images<C, T>, NnError> {
    let (_, _, height, width) = *x.shape();
    let plane = height * width;
    let x = x.try_contiguous()?;
    let (x, mut tape) = x.split_tape();
    let mut x_buf = vec![0.0f32; x.shape().num_elements()];
    x.copy_into(&mut x_buf);
    let (scale, bias) = (read(p.weight), read(p.bias));
    let mean = read(p.running_mean);
    let inv_std: Vec<f32> =
        read(p.running_var).iter().map(|&v| (1.0 / (v as f64 + p.epsilon).sqrt()) as f32).collect();
    let a: Vec<f32> = (0..C).map(|c| scale[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..C).map(|c| bias[c] - mean[c] * a[c]).collect();
    let relu = activation == Activation::Relu;
    let mut out_buf = vec![0.0f32; x_buf.len()];
    cpu_kernel::affine(&x_buf, &a, &b, relu, plane, &mut out_buf);
    let out = x.device().try_tensor_from_vec(out_buf, *x.shape())?;

    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (scale_ghost, bias_ghost) = (p.weight.ghost(), p.bias.ghost());
        tape.add_backward_op(move |grads: &mut Gradients<f32, Cpu>| {
            let g_out: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let (dscale, dbias) = {
                let g_in = grads.get_or_alloc_mut(&x_ghost)?;
                cpu_kernel::eval_backward(&x_buf, &g_out, &mean, &inv_std, &a, &b, relu, plane, g_in)
            };
            **grads.get_or_alloc_mut(&out_ghost)? = g_out;
            add_into(grads.get_or_alloc_mut(&scale_ghost)?, &dscale);
            add_into(grads.get_or_alloc_mut(&bias_ghost)?, &dbias);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
