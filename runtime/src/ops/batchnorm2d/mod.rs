//! Batch normalisation over `(batch, C, H, W)`: a fused forward and a hand-written backward.
//!
//! dfdx's own batch norm composes eight broadcast ops; this op makes one pass for the statistics and
//! one for the output, per channel, on all cores. In training (`T` owns a tape) it normalises with
//! the batch statistics and updates the running ones like PyTorch (`momentum` weighs the new batch,
//! the running variance is unbiased); otherwise it uses the running statistics.

mod cpu_kernel;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use dfdx::prelude::*;
use dfdx::tensor::CpuError;

use super::tensor_io::read_vec;

/// The 4-D activation shape batch norm works on: batch and spatial sizes known at run time.
#[cfg(test)]
pub type Nchw<const C: usize> = (usize, Const<C>, usize, usize);

/// Which statistics normalise the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Batch statistics; running statistics are updated.
    Train,
    /// Running statistics; nothing is updated.
    Eval,
}

/// The parameters and running statistics of one batch-norm layer, borrowed.
pub(crate) struct BnParams<'a, const C: usize> {
    pub weight: &'a Tensor<Rank1<C>, f32, Cpu>,
    pub bias: &'a Tensor<Rank1<C>, f32, Cpu>,
    pub running_mean: &'a mut Tensor<Rank1<C>, f32, Cpu>,
    pub running_var: &'a mut Tensor<Rank1<C>, f32, Cpu>,
    pub epsilon: f64,
    pub momentum: f64,
}

/// Applies batch normalisation to `x`, recording the backward on `x`'s tape (input, weight and bias
/// gradients).
pub(crate) fn batchnorm2d<const C: usize, B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>>(
    x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>,
    p: BnParams<'_, C>,
    mode: Mode,
) -> Result<Tensor<(B, Const<C>, H, W), f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.split_tape();
    let shape = *x.shape();
    let (n, h, w) = (shape.0.size(), shape.2.size(), shape.3.size());
    let dims = cpu_kernel::Dims { n, c: C, hw: h * w };
    let xs = read_vec(&x)?;
    let gamma = read_vec(p.weight)?;
    let beta = read_vec(p.bias)?;

    let (mean, invstd): (Vec<f32>, Vec<f32>) = match mode {
        Mode::Train => {
            let (mean, var) = cpu_kernel::batch_stats(&xs, dims);
            let count = (n * h * w) as f64;
            let unbias = if count > 1.0 { count / (count - 1.0) } else { 1.0 };
            let m = p.momentum;
            let rm: Vec<f32> = read_vec(p.running_mean)?
                .iter()
                .zip(&mean)
                .map(|(&r, &b)| ((1.0 - m) * r as f64 + m * b) as f32)
                .collect();
            let rv: Vec<f32> = read_vec(p.running_var)?
                .iter()
                .zip(&var)
                .map(|(&r, &b)| ((1.0 - m) * r as f64 + m * b * unbias) as f32)
                .collect();
            p.running_mean.copy_from(&rm);
            p.running_var.copy_from(&rv);
            let invstd = var.iter().map(|&v| (1.0 / (v + p.epsilon).sqrt()) as f32).collect();
            (mean.iter().map(|&m| m as f32).collect::<Vec<f32>>(), invstd)
        }
        Mode::Eval => {
            let mean = read_vec(p.running_mean)?;
            let invstd =
                read_vec(p.running_var)?.iter().map(|&v| (1.0 / (v as f64 + p.epsilon).sqrt()) as f32).collect();
            (mean, invstd)
        }
    };

    let mut ys = vec![0.0; xs.len()];
    cpu_kernel::normalize(&xs, &mut ys, &mean, &invstd, &gamma, &beta, dims);
    let out = x.device().tensor_from_vec(ys, shape);

    let (xg, og, wg, bg) = (x.ghost(), out.ghost(), p.weight.ghost(), p.bias.ghost());
    tape.add_backward_op(move |grads| {
        // Borrow the output gradient by moving it out (no copy) and back once done.
        let dy: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&og)?);
        // The input gradient is accumulated straight into its buffer, on all cores.
        let dx: &mut [f32] = grads.get_or_alloc_mut(&xg)?;
        let (dgamma, dbeta) = cpu_kernel::backward(&xs, &dy, &mean, &invstd, &gamma, mode, dims, dx);
        **grads.get_or_alloc_mut(&og)? = dy;
        add_into(grads.get_or_alloc_mut(&wg)?, &dgamma);
        add_into(grads.get_or_alloc_mut(&bg)?, &dbeta);
        Ok(())
    });
    Ok(out.put_tape(tape))
}

fn add_into(acc: &mut [f32], g: &[f32]) {
    acc.iter_mut().zip(g).for_each(|(a, g)| *a += g);
}
