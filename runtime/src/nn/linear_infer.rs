//! The inference forward of [`Linear`] and [`UnbiasedLinear`] on one row (batch-1 inference):
//! the plans' GEMV on the layer's own weight, read in place. dfdx's matmul hands a one-row product
//! to the `gemm` crate, which runs it at a few GFLOP/s (SmallVgg's `3136 → 256`: 270 µs), and a
//! copy of the weight costs more than that.

use dfdx::prelude::*;
use dfdx::tensor::CpuError;

use super::{Linear, UnbiasedLinear};
use crate::kernels::{gemv_f32, Accumulate, Parallelism};
use crate::ops::tensor_io::borrow_values;

/// A batch of rows of `N` values.
type Rows<const N: usize> = Tensor<(usize, Const<N>), f32, Cpu>;

/// Inputs of at most this many rows (one image) take the GEMV; more keep dfdx's matmul, which
/// then has rows to block.
const GEMV_ROWS: usize = 1;

/// The weight matrices of at least this many values split their rows over the cores.
const PARALLEL_VALUES: usize = 1 << 16;

/// The inference forward the derived models run for their fully connected layers: the same values
/// as [`Module::try_forward`] up to float rounding (the sums run in another order).
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::nn::{InferLinear, Linear};
/// let dev = Cpu::default();
/// let fc: Linear<3, 2> = BuildModule::build(&dev);
/// let x: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor_from_vec(vec![1.0, -2.0, 0.5], (1, Const::<3>));
/// let ours = fc.forward_infer(x.clone())?.as_vec();
/// let dfdx = fc.forward(x).as_vec();
/// assert!(ours.iter().zip(&dfdx).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), fasterai_runtime::dfdx::tensor::CpuError>(())
/// ```
pub trait InferLinear<const I: usize, const O: usize> {
    /// `x·Wᵀ (+ b)` for a batch of rows, without a tape.
    fn forward_infer(&self, x: Tensor<(usize, Const<I>), f32, Cpu>) -> Result<Tensor<(usize, Const<O>), f32, Cpu>, CpuError>;
}

impl<const I: usize, const O: usize> InferLinear<I, O> for Linear<I, O> {
    fn forward_infer(&self, x: Tensor<(usize, Const<I>), f32, Cpu>) -> Result<Tensor<(usize, Const<O>), f32, Cpu>, CpuError> {
        match (borrow_values(&self.weight), borrow_values(&self.bias)) {
            (Some(w), Some(b)) if x.shape().0 <= GEMV_ROWS => gemv_rows(w, Some(b), x).or_else(|x| self.try_forward(x)),
            _ => self.try_forward(x),
        }
    }
}

impl<const I: usize, const O: usize> InferLinear<I, O> for UnbiasedLinear<I, O> {
    fn forward_infer(&self, x: Tensor<(usize, Const<I>), f32, Cpu>) -> Result<Tensor<(usize, Const<O>), f32, Cpu>, CpuError> {
        match borrow_values(&self.weight) {
            Some(w) if x.shape().0 <= GEMV_ROWS => gemv_rows(w, None, x).or_else(|x| self.try_forward(x)),
            _ => self.try_forward(x),
        }
    }
}

/// `y[r] = W·x[r] (+ b)` for each row of `x`; gives `x` back if the kernel refuses it.
fn gemv_rows<const I: usize, const O: usize>(
    w: &[f32],
    b: Option<&[f32]>,
    x: Rows<I>,
) -> Result<Rows<O>, Rows<I>> {
    let rows = x.shape().0;
    let inputs = x.as_vec();
    let mut out = vec![0.0; rows * O];
    let parallelism = if w.len() >= PARALLEL_VALUES { Parallelism::AllCores } else { Parallelism::Sequential };
    for (xr, yr) in inputs.chunks_exact(I.max(1)).zip(out.chunks_exact_mut(O.max(1))) {
        let accumulate = match b {
            Some(b) => {
                yr.copy_from_slice(b);
                Accumulate::Add
            }
            None => Accumulate::Overwrite,
        };
        if gemv_f32(w, O, I, xr, yr, accumulate, parallelism).is_err() {
            return Err(x);
        }
    }
    Ok(x.device().tensor_from_vec(out, (rows, Const::<O>)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
    }

    /// One row through the GEMV, more through dfdx: the values of dfdx's own forward.
    #[test]
    fn equals_dfdxs_forward_for_every_batch() {
        let dev = Cpu::seed_from_u64(3);
        let fc: Linear<300, 70> = BuildModule::build(&dev);
        let unbiased: UnbiasedLinear<300, 70> = BuildModule::build(&dev);
        for rows in [1, 2, 5] {
            let x: Tensor<(usize, Const<300>), f32, Cpu> = dev.sample_normal_like(&(rows, Const::<300>));
            assert!(close(&fc.forward_infer(x.clone()).unwrap().as_vec(), &fc.forward(x.clone()).as_vec()), "{rows} rows");
            assert!(close(&unbiased.forward_infer(x.clone()).unwrap().as_vec(), &unbiased.forward(x).as_vec()), "{rows} rows");
        }
    }
}
