//! Single-precision matrix-vector product for batch-1 Linear layers of an inference plan, beside
//! [`gemv_f32_ref`], the plain loop the tests compare it with.
//!
//! At batch 1 a Linear layer reads every weight once for one multiply-add: it is bound by memory,
//! not arithmetic. Two things matter: splitting the rows over the
//! cores (each core then streams, and on repeated calls caches, only its share of the weights), and
//! reading the weights in one contiguous pass with several independent accumulators. Four rows are
//! computed together so each load of `x` serves four rows. Kernels: AVX-512 and AVX2+FMA (explicit
//! fused multiply-adds, picked at run time from the CPU's features) and a portable twin.

use super::team::{for_each_chunk, Team};
use super::{Accumulate, KernelError, Parallelism};

/// Lanes of one accumulator: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;
/// Rows computed together.
const ROWS: usize = 4;
/// Below this many weights one thread finishes before others would have started.
const PARALLEL_WEIGHTS: usize = 1 << 17;

/// `y = W·x` (or `y += W·x` with [`Accumulate::Add`]) for a row-major `rows × cols` matrix `w`.
///
/// With [`Parallelism::AllCores`] and a large enough matrix, the rows are split over the threads of
/// [`Team::global`] (spinning helpers: a batch-1 plan calls this every few microseconds). Results equal [`gemv_f32_ref`]'s up to the order of the additions.
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
    check(w, rows, cols, x, y)?;
    if accumulate == Accumulate::Overwrite {
        y.fill(0.0);
    }
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let team = Team::global();
    if parallelism == Parallelism::Sequential || team.threads() < 2 || w.len() < PARALLEL_WEIGHTS {
        rows_times(w, cols, x, y);
        return Ok(());
    }
    // One share per thread, in whole groups of ROWS.
    let share = rows.div_ceil(team.threads()).div_ceil(ROWS) * ROWS;
    for_each_chunk(y, share, true, |i, y| rows_times(&w[i * share * cols..][..y.len() * cols], cols, x, y));
    Ok(())
}

/// The plain product `y (+)= W·x` the fast kernel is checked against; same errors.
pub fn gemv_f32_ref(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    y: &mut [f32],
    accumulate: Accumulate,
) -> Result<(), KernelError> {
    check(w, rows, cols, x, y)?;
    for (r, out) in y.iter_mut().enumerate() {
        let dot: f64 = (0..cols).map(|c| w[r * cols + c] as f64 * x[c] as f64).sum();
        *out = match accumulate {
            Accumulate::Overwrite => dot as f32,
            Accumulate::Add => *out + dot as f32,
        };
    }
    Ok(())
}

fn check(w: &[f32], rows: usize, cols: usize, x: &[f32], y: &[f32]) -> Result<(), KernelError> {
    let weights = rows.checked_mul(cols).ok_or(KernelError::SizeOverflow { rows, cols })?;
    for (operand, expected, found) in [("weight", weights, w.len()), ("x", cols, x.len()), ("y", rows, y.len())] {
        if expected != found {
            return Err(KernelError::OperandLength { operand, expected, found });
        }
    }
    Ok(())
}

/// `y += W·x` on the calling thread, with the widest vector unit the CPU has.
fn rows_times(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { rows_times_avx512(w, cols, x, y) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { rows_times_avx2(w, cols, x, y) };
        }
    }
    rows_times_portable(w, cols, x, y)
}

/// AVX-512: four rows at a time, 16 columns per load, fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_times_avx512(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    by_groups(w, cols, x, y, |rows, body| {
        let mut acc = [_mm512_setzero_ps(); ROWS];
        for start in (0..body).step_by(LANES) {
            // SAFETY: start + LANES <= body <= cols = x.len(), and row r of the group holds `cols`
            // values from r·cols: every load reads LANES values inside its slice.
            unsafe {
                let xs = _mm512_loadu_ps(x.as_ptr().add(start));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(rows.as_ptr().add(r * cols + start)), xs, *a);
                }
            }
        }
        acc.map(|a| _mm512_reduce_add_ps(a))
    })
}

/// AVX2: four rows at a time, two 8-lane accumulators per row (16 columns per step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_times_avx2(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    by_groups(w, cols, x, y, |rows, body| {
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        for start in (0..body).step_by(LANES) {
            // SAFETY: as in the AVX-512 kernel: start + 16 <= body <= cols, inside x and each row.
            unsafe {
                let (x0, x1) = (_mm256_loadu_ps(x.as_ptr().add(start)), _mm256_loadu_ps(x.as_ptr().add(start + 8)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let p = rows.as_ptr().add(r * cols + start);
                    a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(p), x0, a[0]);
                    a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(8)), x1, a[1]);
                }
            }
        }
        acc.map(|[a0, a1]| {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds 8 f32, one unaligned 256-bit store.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(a0, a1)) };
            lanes.iter().sum()
        })
    })
}

/// Runs `group(rows, body)` on each group of four rows (`rows` holds them one after the other;
/// it returns their dot products with `x` over the first `body` columns, a multiple of 16), adds
/// the remaining columns, and finishes the last `rows % 4` rows in plain Rust. Inlined into each
/// SIMD kernel, so `group` is compiled with that kernel's features.
#[inline(always)]
fn by_groups(w: &[f32], cols: usize, x: &[f32], y: &mut [f32], group: impl Fn(&[f32], usize) -> [f32; ROWS]) {
    let body = cols / LANES * LANES;
    let full = y.len() / ROWS * ROWS;
    for (rows, out) in w.chunks_exact(ROWS * cols).zip(y[..full].chunks_exact_mut(ROWS)) {
        let sums = group(rows, body);
        for ((o, s), row) in out.iter_mut().zip(sums).zip(rows.chunks_exact(cols)) {
            let tail: f32 = row[body..].iter().zip(&x[body..]).map(|(w, x)| w * x).sum();
            *o += s + tail;
        }
    }
    rows_times_portable(&w[full * cols..], cols, x, &mut y[full..]);
}

/// Groups of four rows, then the remaining rows one by one, in plain Rust: CPUs without AVX2, and
/// the last `rows % 4` rows of the SIMD kernels.
fn rows_times_portable(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    let done = y.len() / ROWS * ROWS;
    for (rows, out) in w.chunks_exact(ROWS * cols).zip(y.chunks_exact_mut(ROWS)) {
        let row = |i: usize| &rows[i * cols..(i + 1) * cols];
        for (o, s) in out.iter_mut().zip(dot4([row(0), row(1), row(2), row(3)], x)) {
            *o += s;
        }
    }
    for r in done..y.len() {
        y[r] += dot4([&w[r * cols..(r + 1) * cols]; 4], x)[0];
    }
}

/// The dot products of four rows with `x` (rows may repeat; each is computed independently).
fn dot4(rows: [&[f32]; ROWS], x: &[f32]) -> [f32; ROWS] {
    let mut acc = [[0.0f32; LANES]; ROWS];
    let body = x.len() / LANES * LANES;
    for start in (0..body).step_by(LANES) {
        let xs: &[f32; LANES] = x[start..start + LANES].try_into().expect("LANES values");
        for (a, row) in acc.iter_mut().zip(rows) {
            let ws: &[f32; LANES] = row[start..start + LANES].try_into().expect("LANES values");
            for l in 0..LANES {
                a[l] += ws[l] * xs[l];
            }
        }
    }
    let mut sums = [0.0f32; ROWS];
    for ((s, a), row) in sums.iter_mut().zip(&acc).zip(rows) {
        let tail: f32 = row[body..].iter().zip(&x[body..]).map(|(w, x)| w * x).sum();
        *s = a.iter().sum::<f32>() + tail;
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
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
                    gemv_f32_ref(&w, rows, cols, &x, &mut slow, accumulate).unwrap();
                    for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                        let tol = 1e-5 * (cols as f32).sqrt() * (1.0 + b.abs());
                        assert!((a - b).abs() <= tol, "{rows}×{cols} {accumulate:?} {par:?} row {i}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_kernel_this_cpu_runs_matches_the_reference() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut kernels: Vec<(&str, fn(&[f32], usize, &[f32], &mut [f32]))> = vec![("portable", rows_times_portable)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the features were just detected.
                kernels.push(("avx2", |w, c, x, y| unsafe { rows_times_avx2(w, c, x, y) }));
            }
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: the feature was just detected.
                kernels.push(("avx512", |w, c, x, y| unsafe { rows_times_avx512(w, c, x, y) }));
            }
        }
        for (rows, cols) in [(1, 3), (4, 16), (6, 31), (9, 48), (17, 65)] {
            let (w, x) = (random(rows * cols, &mut rng), random(cols, &mut rng));
            let mut expected = random(rows, &mut rng);
            let start = expected.clone();
            gemv_f32_ref(&w, rows, cols, &x, &mut expected, Accumulate::Add).unwrap();
            for (name, kernel) in &kernels {
                let mut y = start.clone();
                kernel(&w, cols, &x, &mut y);
                for (a, b) in y.iter().zip(&expected) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()) * (cols as f32).sqrt(), "{name} {rows}×{cols}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn wrong_buffer_sizes_are_errors_naming_the_operand() {
        let mut y = [0.0; 2];
        let err = gemv_f32(&[0.0; 5], 2, 3, &[0.0; 3], &mut y, Accumulate::Add, Parallelism::Sequential).unwrap_err();
        assert!(err.to_string().contains("weight"), "{err}");
        let err = gemv_f32_ref(&[0.0; 6], 2, 3, &[0.0; 2], &mut y, Accumulate::Add).unwrap_err();
        assert!(err.to_string().contains('x'), "{err}");
    }
}
