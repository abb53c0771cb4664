//! Single-precision matrix multiply: a wrapper over the `gemm` crate with explicit threading,
//! beside [`reference_gemm_f32`](super::generic::gemm_f32::reference_gemm_f32), the plain triple
//! loop the tests compare it with. The views and modes are in [`super::mat`].
//!
//! The `gemm` crate picks its own SIMD at run time (up to AVX-512): the cap of [`super::isa`](mod@super::isa) does
//! not bound it.

use super::mat::{check_product, Accumulate, MatMut, MatRef, Parallelism};
use super::KernelError;

/// The `gemm` crate's threading for `parallelism`.
fn to_gemm(parallelism: Parallelism) -> gemm::Parallelism {
    match parallelism {
        Parallelism::Sequential => gemm::Parallelism::None,
        Parallelism::AllCores => match rayon::current_num_threads() {
            0 | 1 => gemm::Parallelism::None,
            n => gemm::Parallelism::Rayon(n),
        },
    }
}

/// `dst = lhs · rhs` or `dst += lhs · rhs` on the `gemm` crate's packed AVX2/FMA kernels.
///
/// ```
/// use fasterai_runtime::kernels::{gemm, Accumulate, MatMut, MatRef, Parallelism};
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0, 6.0, 7.0, 8.0]; // [[5, 6], [7, 8]]
/// let mut c = [0.0; 4];
/// gemm(
///     MatMut::row_major(&mut c, 2, 2)?,
///     MatRef::row_major(&a, 2, 2)?,
///     MatRef::row_major(&b, 2, 2)?,
///     Accumulate::Overwrite,
///     Parallelism::Sequential,
/// )?;
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
/// ```
pub fn gemm(
    dst: MatMut<'_>,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: Accumulate,
    parallelism: Parallelism,
) -> Result<(), KernelError> {
    check_product(&dst, &lhs, &rhs)?;
    let (m, n, k) = (dst.rows, dst.cols, lhs.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if accumulate == Accumulate::Overwrite {
            for r in 0..m {
                for c in 0..n {
                    dst.data[r * dst.row_stride + c * dst.col_stride] = 0.0;
                }
            }
        }
        return Ok(());
    }
    let read_dst = accumulate == Accumulate::Add;
    // SAFETY: every view was checked at construction to stay inside its slice for all
    // `rows × cols` indices, the product shapes agree (checked above), the destination
    // is injective (no two threads write one location) and is borrowed mutably, so it
    // cannot alias `lhs` or `rhs`. Strides fit in isize because they index a live slice.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            dst.col_stride as isize,
            dst.row_stride as isize,
            read_dst,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            to_gemm(parallelism),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::gemm_f32::reference_gemm_f32;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
        (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "element {i}: {x} vs {y}"
            );
        }
    }

    /// Every combination of layouts, odd sizes (microkernel tails), both threadings, both modes.
    #[test]
    fn gemm_matches_reference_on_all_layouts() {
        let mut rng = SmallRng::seed_from_u64(7);
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 3, 7),
            (33, 17, 65),
            (100, 9, 31),
            (8, 130, 3),
        ] {
            for lhs_t in [false, true] {
                for rhs_t in [false, true] {
                    for dst_t in [false, true] {
                        for par in [Parallelism::Sequential, Parallelism::AllCores] {
                            for acc in [Accumulate::Overwrite, Accumulate::Add] {
                                let a = random(m * k, &mut rng);
                                let b = random(k * n, &mut rng);
                                let init = random(m * n, &mut rng);
                                let lhs = if lhs_t {
                                    MatRef::col_major(&a, m, k).unwrap()
                                } else {
                                    MatRef::row_major(&a, m, k).unwrap()
                                };
                                let rhs = if rhs_t {
                                    MatRef::col_major(&b, k, n).unwrap()
                                } else {
                                    MatRef::row_major(&b, k, n).unwrap()
                                };
                                let (rs, cs) = if dst_t { (1, m) } else { (n, 1) };
                                let mut fast = init.clone();
                                let mut slow = init.clone();
                                gemm(
                                    MatMut::new(&mut fast, m, n, rs, cs).unwrap(),
                                    lhs,
                                    rhs,
                                    acc,
                                    par,
                                )
                                .unwrap();
                                reference_gemm_f32(
                                    MatMut::new(&mut slow, m, n, rs, cs).unwrap(),
                                    lhs,
                                    rhs,
                                    acc,
                                )
                                .unwrap();
                                assert_close(&fast, &slow, 1e-5);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn transposed_view_reads_the_transpose() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3 row-major
        let t = MatRef::row_major(&a, 2, 3).unwrap().t();
        assert_eq!((t.rows(), t.cols()), (3, 2));
        assert_eq!(t.at(2, 1), 6.0);
        assert_eq!(t.at(0, 1), 4.0);
    }

    #[test]
    fn views_outside_their_slice_are_rejected() {
        let a = [0.0; 5];
        assert!(matches!(
            MatRef::row_major(&a, 2, 3),
            Err(KernelError::ViewOutOfBounds {
                rows: 2,
                cols: 3,
                len: 5,
                ..
            })
        ));
    }

    #[test]
    fn aliasing_destinations_are_rejected() {
        let mut d = [0.0; 8];
        assert!(matches!(
            MatMut::new(&mut d, 2, 3, 2, 1),
            Err(KernelError::AliasingDestination { .. })
        ));
        assert!(MatMut::new(&mut d, 2, 3, 3, 1).is_ok());
    }

    #[test]
    fn mismatched_product_is_an_error() {
        let a = [0.0; 6];
        let mut d = [0.0; 4];
        let err = gemm(
            MatMut::row_major(&mut d, 2, 2).unwrap(),
            MatRef::row_major(&a, 2, 3).unwrap(),
            MatRef::row_major(&a, 2, 3).unwrap(),
            Accumulate::Overwrite,
            Parallelism::Sequential,
        );
        assert!(matches!(err, Err(KernelError::ProductShape { .. })));
    }
}
