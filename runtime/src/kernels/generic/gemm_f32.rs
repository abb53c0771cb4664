//! The plain fp32 matrix product, accumulating in `f64`: the reference the `gemm` wrapper and the
//! convolutions are tested against.

use crate::kernels::mat::{check_product, Accumulate, MatMut, MatRef};
use crate::kernels::KernelError;

/// The plain triple loop twin of [`gemm()`](crate::kernels::gemm()), accumulating in `f64`. For tests only: it is slow.
pub fn reference_gemm_f32(
    dst: MatMut<'_>,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: Accumulate,
) -> Result<(), KernelError> {
    check_product(&dst, &lhs, &rhs)?;
    for r in 0..dst.rows {
        for c in 0..dst.cols {
            let mut sum = 0.0f64;
            for i in 0..lhs.cols {
                sum += lhs.at(r, i) as f64 * rhs.at(i, c) as f64;
            }
            let slot = &mut dst.data[r * dst.row_stride + c * dst.col_stride];
            *slot = match accumulate {
                Accumulate::Overwrite => sum as f32,
                Accumulate::Add => (*slot as f64 + sum) as f32,
            };
        }
    }
    Ok(())
}
