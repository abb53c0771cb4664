//! Single-precision matrix multiply: a wrapper over the `gemm` crate with explicit threading,
//! beside [`gemm_ref`], the plain triple loop the tests compare it with.
//!
//! Matrices are views over slices with arbitrary (non-negative) row and column strides, so the
//! callers pick whichever layout keeps their large dimension contiguous without copying.

use super::KernelError;

/// How many threads a kernel may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// Run on the calling thread only (use this inside an outer parallel loop).
    Sequential,
    /// Split the work over every thread of the current rayon pool.
    AllCores,
}

impl Parallelism {
    fn to_gemm(self) -> gemm::Parallelism {
        match self {
            Parallelism::Sequential => gemm::Parallelism::None,
            Parallelism::AllCores => match rayon::current_num_threads() {
                0 | 1 => gemm::Parallelism::None,
                n => gemm::Parallelism::Rayon(n),
            },
        }
    }
}

/// Whether a product overwrites its destination or adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accumulate {
    /// `dst = lhs · rhs`
    Overwrite,
    /// `dst += lhs · rhs`
    Add,
}

/// Offset of the last element of a `rows × cols` view, or `None` if it is empty.
fn last_offset(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return None;
    }
    (rows - 1)
        .checked_mul(row_stride)?
        .checked_add((cols - 1).checked_mul(col_stride)?)
}

fn check_fits(
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
    len: usize,
) -> Result<(), KernelError> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    match last_offset(rows, cols, row_stride, col_stride) {
        Some(last) if last < len => Ok(()),
        _ => Err(KernelError::ViewOutOfBounds {
            rows,
            cols,
            row_stride,
            col_stride,
            len,
        }),
    }
}

/// A read-only `rows × cols` matrix view: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A view with explicit strides; fails if any element would fall outside `data`.
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, KernelError> {
        check_fits(rows, cols, row_stride, col_stride, data.len())?;
        Ok(Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// A row-major view (rows contiguous).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// A column-major view (columns contiguous).
    pub fn col_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::new(data, rows, cols, 1, rows)
    }

    /// The same data seen as its transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// A writable `rows × cols` matrix view whose elements never alias each other.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatMut<'a> {
    /// A view with explicit strides; fails if an element falls outside `data` or if two
    /// elements would share a memory location (a parallel write there would race).
    pub fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, KernelError> {
        check_fits(rows, cols, row_stride, col_stride, data.len())?;
        // Injective iff the inner dimension's span fits below one step of the outer dimension.
        let (inner_stride, inner_len, outer_stride, outer_len) = if row_stride >= col_stride {
            (col_stride, cols, row_stride, rows)
        } else {
            (row_stride, rows, col_stride, cols)
        };
        let injective = (inner_len <= 1 || inner_stride >= 1)
            && (outer_len <= 1 || inner_stride.saturating_mul(inner_len).max(1) <= outer_stride);
        if !injective {
            return Err(KernelError::AliasingDestination {
                rows,
                cols,
                row_stride,
                col_stride,
            });
        }
        Ok(Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// A row-major view (rows contiguous).
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// A column-major view (columns contiguous).
    pub fn col_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::new(data, rows, cols, 1, rows)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

fn check_product(dst: &MatMut<'_>, lhs: &MatRef<'_>, rhs: &MatRef<'_>) -> Result<(), KernelError> {
    if lhs.cols != rhs.rows || dst.rows != lhs.rows || dst.cols != rhs.cols {
        return Err(KernelError::ProductShape {
            dst: (dst.rows, dst.cols),
            lhs: (lhs.rows, lhs.cols),
            rhs: (rhs.rows, rhs.cols),
        });
    }
    Ok(())
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
            parallelism.to_gemm(),
        );
    }
    Ok(())
}

/// The plain triple loop twin of [`gemm()`], accumulating in `f64`. For tests only: it is slow.
pub fn gemm_ref(
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

#[cfg(test)]
mod tests {
    use super::*;
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
                                gemm_ref(
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
