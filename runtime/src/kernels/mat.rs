//! The shared types of the fp32 products: strided matrix views ([`MatRef`], [`MatMut`]) with their
//! checks, whether a product overwrites or adds ([`Accumulate`]), and how many threads a kernel may
//! use ([`Parallelism`]). At the bottom of the floor: [`super::gemm()`] and its plain reference
//! ([`reference_gemm_f32`](super::generic::gemm_f32::reference_gemm_f32)) both read them.
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
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
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

    pub(crate) fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// A writable `rows × cols` matrix view whose elements never alias each other.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub(crate) data: &'a mut [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
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

pub(crate) fn check_product(dst: &MatMut<'_>, lhs: &MatRef<'_>, rhs: &MatRef<'_>) -> Result<(), KernelError> {
    if lhs.cols != rhs.rows || dst.rows != lhs.rows || dst.cols != rhs.cols {
        return Err(KernelError::ProductShape {
            dst: (dst.rows, dst.cols),
            lhs: (lhs.rows, lhs.cols),
            rhs: (rhs.rows, rhs.cols),
        });
    }
    Ok(())
}
