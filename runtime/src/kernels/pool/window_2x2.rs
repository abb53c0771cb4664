//! 2×2 stride-2 max pooling of whole row pairs, on `f32` and `u8` maps: the inference plans' pool,
//! run by the kernel of [`F32Kernels::best`]: the AVX-512 one (sixteen `f32` or thirty-two `u8`
//! outputs per step), the NEON one (eight `f32` or thirty-two `u8`) or [`generic_pool_2x2`](crate::kernels::generic::pool_2x2::generic_pool_2x2),
//! the plain twin the tests compare it with.
//!
//! Each output is `(t₀ ⊔ t₁) ⊔ (b₀ ⊔ b₁)` over its window's top and bottom pairs, where `a ⊔ b` is
//! `b` when `b > a`, else `a`, and NaN when either is (the model's max pool). The SIMD kernels
//! keep that order, so signed zeros and NaNs come out as the plain loop's.
//!
//! ```
//! use fasterai_runtime::kernels::max_pool_2x2;
//! let rows = [1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0f32]; // two rows of four
//! let mut out = [0.0; 2];
//! max_pool_2x2(&rows, 4, &mut out);
//! assert_eq!(out, [5.0, 9.0]);
//! ```

use super::value::{check_2x2, PoolValue};
use crate::kernels::table_f32::F32Kernels;

/// Pools `rows` (row pairs of `width` values; an odd last column is dropped) into `out`, one output
/// row of `width / 2` values per pair, with the fastest kernel enabled ([`crate::kernels::isa`](mod@crate::kernels::isa)).
///
/// # Panics
/// When `rows` does not hold `out.len() / (width / 2)` row pairs.
pub fn max_pool_2x2<T: PoolValue>(rows: &[T], width: usize, out: &mut [T]) {
    check_2x2(rows, width, out);
    let table = F32Kernels::best();
    T::pick(table.pool_2x2_f32, table.pool_2x2_u8)(rows, width, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::pool_2x2::generic_pool_2x2;
    use crate::kernels::conformance_f32::check_pool_2x2;
    use rand::{rngs::SmallRng, SeedableRng};

    /// The SIMD kernels equal the plain loop on odd widths, tails past a vector, NaNs and signed zeros.
    #[test]
    fn the_simd_kernels_equal_the_plain_loop() {
        let mut rng = SmallRng::seed_from_u64(4);
        for width in [1, 2, 3, 7, 14, 15, 28, 33, 64, 65, 130] {
            for pairs in [1, 3] {
                check_pool_2x2(&mut rng, (width, pairs), max_pool_2x2, max_pool_2x2, "max_pool_2x2");
            }
        }
    }

    #[test]
    fn the_plain_loop_pools_each_window() {
        // Two rows of six: windows (1, 2 | 7, 8), (3, 4 | 9, 0), (5, 6 | 1, 2).
        let rows = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2];
        let mut out = [0u8; 3];
        generic_pool_2x2(&rows, 6, &mut out);
        assert_eq!(out, [8, 9, 6]);
    }

    #[test]
    #[should_panic(expected = "pool into")]
    fn mismatched_lengths_panic() {
        max_pool_2x2(&[0.0f32; 6], 4, &mut [0.0; 2]);
    }
}
