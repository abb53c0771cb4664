//! Where the int8 products' tiles land: the output layout of an `m × n` product ([`Columns`]) and
//! the shared output that threads write in disjoint tiles ([`Sink`]), junk columns dropped.

use super::types::NR;
use crate::quant::QuantError;

/// Where column `c` of row `r` of an `m × n` product lands in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Row-major `m × n`.
    Dense,
    /// The wide columns of a stride-1 conv, `q = y·wp + x`: kept when `x < ow`, at
    /// `r·plane + y·ow + x` (`plane = oh·ow`); the junk columns `x ≥ ow` are dropped.
    Wide {
        /// Padded row length `W + 2p`.
        wp: usize,
        /// Output row length.
        ow: usize,
        /// Output positions per channel.
        plane: usize,
    },
}

impl Columns {
    /// Output elements of an `m × n` product.
    pub(crate) fn len(self, m: usize, n: usize) -> usize {
        match self {
            Columns::Dense => m * n,
            Columns::Wide { plane, .. } => m * plane,
        }
    }
}

/// The output of one product, written through a raw pointer by whichever thread computed each
/// tile: every `(row, column)` is written by one thread once, and distinct ones land on distinct
/// elements (`Columns` is injective on the columns it keeps).
pub(crate) struct Sink<T> {
    ptr: *mut T,
    len: usize,
    n: usize,
    columns: Columns,
}

// SAFETY: see the type's doc: writes from different threads never touch the same element.
unsafe impl<T: Send> Sync for Sink<T> {}

impl<T: Copy> Sink<T> {
    pub(crate) fn new(out: &mut [T], m: usize, n: usize, columns: Columns) -> Result<Self, QuantError> {
        let expected = columns.len(m, n);
        if out.len() != expected {
            return Err(QuantError::LengthMismatch { what: "GEMM output", expected, found: out.len() });
        }
        if let Columns::Wide { wp, ow, plane } = columns {
            // Rows of `ow` kept columns out of every `wp`, the last row without its junk.
            let fits = ow > 0 && ow <= wp && plane % ow == 0 && plane > 0 && n == (plane / ow - 1) * wp + ow;
            if !fits {
                return Err(QuantError::LengthMismatch { what: "wide conv columns", expected: plane, found: n });
            }
        }
        Ok(Self { ptr: out.as_mut_ptr(), len: out.len(), n, columns })
    }

    /// The sink of output rows `rows` of a stride-1 conv's `[m, OH, OW]` output `out` (`plane =
    /// OH·OW`, padded rows of `wp`): its columns are the band's wide positions from its first row,
    /// `0 .. (rows.len() − 1)·wp + ow`. Only rows `rows` of each channel are written.
    ///
    /// # Safety
    /// While the sink is in use, no other thread may reach rows `rows` of `out`.
    #[cfg(target_arch = "x86_64")]
    pub(crate) unsafe fn band(out: &super::OutPtr<'_, T>, m: usize, rows: std::ops::Range<usize>, (wp, ow, plane): (usize, usize, usize)) -> Self {
        assert!(!rows.is_empty() && ow > 0 && ow <= wp && rows.end * ow <= plane && out.len() == m * plane, "the band lies inside the conv's output");
        let n = (rows.len() - 1) * wp + ow;
        let skip = rows.start * ow;
        // SAFETY: `skip < plane <= out.len()`. The sink writes element `r·plane + y·ow + x` past
        // it for `y < rows.len()`: inside the band's rows (the caller keeps other threads off them).
        Self { ptr: unsafe { out.ptr().add(skip) }, len: out.len() - skip, n, columns: Columns::Wide { wp, ow, plane } }
    }

    /// Where columns `col..col + width` (at most [`NR`]) of any row go.
    pub(crate) fn place(&self, col: usize, width: usize) -> Placement {
        let mut place = Placement { runs: [(0, 0, 0); NR], count: 0 };
        match self.columns {
            Columns::Dense => (place.runs[0], place.count) = ((0, col, width), 1),
            Columns::Wide { wp, ow, .. } => {
                let mut done = 0;
                while done < width {
                    let (y, x) = ((col + done) / wp, (col + done) % wp);
                    let run = if x < ow { ow - x } else { wp - x }.min(width - done);
                    if x < ow {
                        place.runs[place.count] = (done, y * ow + x, run);
                        place.count += 1;
                    }
                    done += run;
                }
            }
        }
        place
    }

    /// Writes one tile row, `values`, placed by `place`, into output row `row`.
    pub(crate) fn put(&self, row: usize, place: &Placement, values: &[T]) {
        let base = self.row_start(row);
        for &(src, dst, len) in &place.runs[..place.count] {
            let (at, values) = (base + dst, &values[src..src + len]);
            assert!(at + len <= self.len, "a tile wrote past the output");
            // SAFETY: in bounds (checked); no other thread writes these elements (type doc).
            unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(at), len) };
        }
    }
}

impl<T> Sink<T> {
    /// Index of output row `row`'s first element.
    pub(crate) fn row_start(&self, row: usize) -> usize {
        row * match self.columns {
            Columns::Dense => self.n,
            Columns::Wide { plane, .. } => plane,
        }
    }

    /// The output buffer, for kernels that store their runs themselves: its first element and
    /// length. Each element may be written by one thread only (see the type's doc).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn raw(&self) -> (*mut T, usize) {
        (self.ptr, self.len)
    }
}

/// The runs of one column panel's values in an output row: (first value, offset in the row, length).
/// Each run holds at least one kept column, so a panel has at most [`NR`].
pub(crate) struct Placement {
    pub(crate) runs: [(usize, usize, usize); NR],
    pub(crate) count: usize,
}
