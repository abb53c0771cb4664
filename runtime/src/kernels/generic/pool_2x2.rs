//! The 2×2 stride-2 max pool as a plain loop: the portable twin of the AVX-512 kernels
//! (`x86_64::pool_2x2`) and the NEON ones (`aarch64::pool_2x2`), and the fallback of every CPU.

use crate::kernels::pool::value::{check_2x2, PoolValue};

/// [`max_pool_2x2`](crate::kernels::max_pool_2x2) as a plain loop: `(t₀ ⊔ t₁) ⊔ (b₀ ⊔ b₁)` per window.
///
/// # Panics
/// When `rows` does not hold `out.len() / (width / 2)` row pairs.
pub fn generic_pool_2x2<T: PoolValue>(rows: &[T], width: usize, out: &mut [T]) {
    check_2x2(rows, width, out);
    let ow = width / 2;
    if ow == 0 {
        return;
    }
    for (pair, out_row) in rows.chunks_exact(2 * width).zip(out.chunks_exact_mut(ow)) {
        let (top, bottom) = pair.split_at(width);
        for ((o, t), b) in out_row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
            *o = t[0].larger(t[1]).larger(b[0].larger(b[1]));
        }
    }
}
