//! Moving data between dfdx CPU tensors and plain slices, which the kernels work on.

use dfdx::prelude::*;

/// Copies a tensor's values, in logical row-major order, into a new `Vec`.
///
/// A contiguous tensor costs one `memcpy`; a strided one (a broadcast, a permutation) is first made
/// contiguous by dfdx.
pub(crate) fn read_vec<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Result<Vec<f32>, dfdx::tensor::CpuError> {
    let t = t.clone().try_contiguous()?;
    let mut v = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut v);
    Ok(v)
}
