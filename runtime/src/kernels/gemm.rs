//! Single-precision matrix multiply: a wrapper over the `gemm` crate with explicit threading,
//! beside [`reference_gemm_f32`](super::generic::gemm_f32::reference_gemm_f32), the plain triple
//! loop the tests compare it with. The views and modes are in [`super::mat`].
//!
//! The `gemm` crate picks its own SIMD at run time (up to AVX-512); below an AVX-512 cap of
//! [`super::isa`](mod@super::isa) its AVX2/FMA kernels (or, on the portable tier, its scalar ones)
//! are called directly, so a capped plan multiplies as a CPU of that tier would.

use super::mat::{check_product, Accumulate, MatMut, MatRef, Parallelism};
use super::{Isa, KernelError};

/// The `gemm` crate's `f32` product: sizes, `dst` (column and row strides), whether to read it,
/// `lhs`, `rhs`, `alpha`, `beta`, three conjugation flags, threading.
type ProductFn = unsafe fn(
    usize,
    usize,
    usize,
    *mut f32,
    isize,
    isize,
    bool,
    *const f32,
    isize,
    isize,
    *const f32,
    isize,
    isize,
    f32,
    f32,
    bool,
    bool,
    bool,
    gemm::Parallelism,
);

/// The crate's kernels for the table in force: its own choice where the table reaches AVX-512
/// (x86-64) or NEON (aarch64), its AVX2/FMA ones under an AVX2-class cap, its scalar ones on the
/// portable tier.
fn product() -> ProductFn {
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx512.enabled() {
            return gemm::gemm::<f32>;
        }
        if Isa::Avx2.enabled() {
            return capped::fma;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if Isa::Neon.enabled() {
        return gemm::gemm::<f32>;
    }
    capped::scalar
}

/// The `gemm` crate's kernels of one tier, through its generic driver (what its own dispatch
/// calls once it has chosen the tier).
mod capped {
    use gemm_common::gemm::gemm_basic_generic;
    use gemm_common::simd::MixedSimd;

    /// Declares a [`super::ProductFn`] on the kernels of `$kernels`, `$lanes` floats per vector.
    macro_rules! tier {
        ($(#[$meta:meta])* $name:ident, $simd:ty, $kernels:path, $lanes:expr) => {
            $(#[$meta])*
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $name(
                m: usize,
                n: usize,
                k: usize,
                dst: *mut f32,
                dst_cs: isize,
                dst_rs: isize,
                read_dst: bool,
                lhs: *const f32,
                lhs_cs: isize,
                lhs_rs: isize,
                rhs: *const f32,
                rhs_cs: isize,
                rhs_rs: isize,
                alpha: f32,
                beta: f32,
                conj_dst: bool,
                conj_lhs: bool,
                conj_rhs: bool,
                parallelism: gemm::Parallelism,
            ) {
                use $kernels as ukr;
                let Some(simd) = <$simd as MixedSimd<f32, f32, f32, f32>>::try_new() else {
                    // SAFETY: the caller's contract, passed on unchanged.
                    return unsafe {
                        scalar(
                            m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
                            alpha, beta, conj_dst, conj_lhs, conj_rhs, parallelism,
                        )
                    };
                };
                // SAFETY: the caller's contract (views inside their slices, `dst` not aliased),
                // and `simd` proves the CPU has the kernels' instructions.
                unsafe {
                    gemm_basic_generic::<
                        _,
                        f32,
                        { $lanes },
                        { ukr::MR_DIV_N * $lanes },
                        { ukr::NR },
                        { ukr::MR_DIV_N },
                        { ukr::H_M },
                        { ukr::H_N },
                    >(
                        simd, m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
                        alpha, beta, conj_dst, conj_lhs, conj_rhs, |a, b, c| a * b + c, &ukr::UKR,
                        &ukr::H_UKR, false, parallelism,
                    )
                }
            }
        };
    }

    tier!(
        /// The AVX2/FMA kernels (8 lanes).
        #[cfg(target_arch = "x86_64")]
        fma,
        gemm_common::simd::V3,
        gemm_f32::microkernel::fma::f32,
        8
    );
    tier!(
        /// The scalar kernels.
        scalar,
        gemm_common::simd::Scalar,
        gemm_f32::microkernel::scalar::f32,
        1
    );
}

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

/// `dst = lhs · rhs` or `dst += lhs · rhs` on the `gemm` crate's packed kernels (AVX-512, AVX2/FMA
/// or NEON, within the cap).
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
    product_on(product(), dst, lhs, rhs, accumulate, parallelism)
}

/// [`gemm`] on the kernels of `product`.
fn product_on(
    product: ProductFn,
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
        product(
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

    fn assert_close(a: &[f32], b: &[f32], tol: f32, tier: &str) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{tier}: element {i}: {x} vs {y}"
            );
        }
    }

    /// The kernels of every tier this CPU runs: the table in force, the AVX2/FMA ones a capped
    /// table takes, the scalar ones.
    fn tiers() -> Vec<(&'static str, ProductFn)> {
        let tiers: Vec<(&'static str, ProductFn)> =
            vec![("in force", product()), ("scalar", capped::scalar)];
        #[cfg(target_arch = "x86_64")]
        let tiers = if Isa::Avx2.on_cpu() {
            [tiers, vec![("avx2", capped::fma as ProductFn)]].concat()
        } else {
            tiers
        };
        tiers
    }

    /// Every tier, every combination of layouts, odd sizes (microkernel tails), both threadings,
    /// both modes.
    #[test]
    fn gemm_matches_reference_on_all_layouts() {
        let mut rng = SmallRng::seed_from_u64(7);
        for (tier, product) in tiers() {
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
                                    product_on(
                                        product,
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
                                    assert_close(&fast, &slow, 1e-5, tier);
                                }
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
