//! Single-precision matrix-vector product for batch-1 Linear layers of an inference plan, beside
//! [`reference_gemv_f32`](super::reference_gemv_f32), the plain loop the tests compare it with.
//!
//! At batch 1 a Linear layer reads every weight once for one multiply-add: it is bound by memory,
//! not arithmetic. Two things matter: splitting the rows over the
//! cores (each core then streams, and on repeated calls caches, only its share of the weights), and
//! reading the weights in one contiguous pass with several independent accumulators. Four rows are
//! computed together so each load of `x` serves four rows. Kernels: AVX-512 and AVX2+FMA (explicit
//! fused multiply-adds, in [`super::x86_64`]) and a portable twin (in [`super::generic`]), picked from
//! [`F32Kernels::best`].

use super::table_f32::F32Kernels;
use super::generic::gemv_f32::{check_gemv, ROWS};
use super::team::{for_each_chunk, Team};
use super::{Accumulate, KernelError, Parallelism};

/// Below this many weights one thread finishes before others would have started.
const PARALLEL_WEIGHTS: usize = 1 << 17;

/// `y = W·x` (or `y += W·x` with [`Accumulate::Add`]) for a row-major `rows × cols` matrix `w`.
///
/// With [`Parallelism::AllCores`] and a large enough matrix, the rows are split over the threads of
/// [`Team::global`] (spinning helpers: a batch-1 plan calls this every few microseconds). Results equal [`reference_gemv_f32`](super::reference_gemv_f32)'s up to the order of the additions.
///
/// ```
/// use fasterai_runtime::kernels::{gemv_f32, Accumulate, Parallelism};
/// let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
/// let mut y = [10.0, 20.0];
/// gemv_f32(&w, 2, 3, &[1.0, 0.0, -1.0], &mut y, Accumulate::Add, Parallelism::Sequential).unwrap();
/// assert_eq!(y, [10.0 - 2.0, 20.0 - 2.0]);
/// ```
pub fn gemv_f32(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    y: &mut [f32],
    accumulate: Accumulate,
    parallelism: Parallelism,
) -> Result<(), KernelError> {
    check_gemv(w, rows, cols, x, y)?;
    if accumulate == Accumulate::Overwrite {
        y.fill(0.0);
    }
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let team = Team::global();
    let rows_times = F32Kernels::best().gemv_4x16;
    if parallelism == Parallelism::Sequential || team.threads() < 2 || w.len() < PARALLEL_WEIGHTS {
        rows_times(w, cols, x, y);
        return Ok(());
    }
    // One share per thread, in whole groups of ROWS.
    let share = rows.div_ceil(team.threads()).div_ceil(ROWS) * ROWS;
    for_each_chunk(y, share, true, |i, y| rows_times(&w[i * share * cols..][..y.len() * cols], cols, x, y));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference_gemv_f32;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
        (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    #[test]
    fn matches_the_reference_on_odd_sizes_and_both_modes() {
        let mut rng = SmallRng::seed_from_u64(3);
        // Row counts around the group of 4, column counts around the 16 lanes, and one matrix
        // large enough to be split over threads.
        for (rows, cols) in [(1, 1), (3, 15), (4, 16), (5, 17), (7, 33), (10, 256), (13, 100), (301, 1031)] {
            let (w, x) = (random(rows * cols, &mut rng), random(cols, &mut rng));
            for accumulate in [Accumulate::Overwrite, Accumulate::Add] {
                for par in [Parallelism::Sequential, Parallelism::AllCores] {
                    let start = random(rows, &mut rng);
                    let (mut fast, mut slow) = (start.clone(), start);
                    gemv_f32(&w, rows, cols, &x, &mut fast, accumulate, par).unwrap();
                    reference_gemv_f32(&w, rows, cols, &x, &mut slow, accumulate).unwrap();
                    for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                        let tol = 1e-5 * (cols as f32).sqrt() * (1.0 + b.abs());
                        assert!((a - b).abs() <= tol, "{rows}×{cols} {accumulate:?} {par:?} row {i}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_buffer_sizes_are_errors_naming_the_operand() {
        let mut y = [0.0; 2];
        let err = gemv_f32(&[0.0; 5], 2, 3, &[0.0; 3], &mut y, Accumulate::Add, Parallelism::Sequential).unwrap_err();
        assert!(err.to_string().contains("weight"), "{err}");
        let err = reference_gemv_f32(&[0.0; 6], 2, 3, &[0.0; 2], &mut y, Accumulate::Add).unwrap_err();
        assert!(err.to_string().contains('x'), "{err}");
    }
}
