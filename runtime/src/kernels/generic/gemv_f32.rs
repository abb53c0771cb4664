//! The fp32 matrix-vector product in plain Rust: [`reference_gemv_f32`], the `f64` loop every GEMV
//! is checked against, and [`generic_gemv_f32_4x16`], the portable twin of the SIMD row kernels of
//! [`crate::kernels::x86_64::gemv_f32`] (four rows at a time, sixteen lanes per accumulator).

use crate::kernels::{Accumulate, KernelError};

/// Lanes of one accumulator: one AVX-512 register, two AVX2 ones.
pub(crate) const LANES: usize = 16;
/// Rows computed together.
pub(crate) const ROWS: usize = 4;

/// The plain product `y (+)= W·x` [`gemv_f32`](crate::kernels::gemv_f32) is checked against; same errors.
pub fn reference_gemv_f32(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    y: &mut [f32],
    accumulate: Accumulate,
) -> Result<(), KernelError> {
    check_gemv(w, rows, cols, x, y)?;
    for (r, out) in y.iter_mut().enumerate() {
        let dot: f64 = (0..cols).map(|c| w[r * cols + c] as f64 * x[c] as f64).sum();
        *out = match accumulate {
            Accumulate::Overwrite => dot as f32,
            Accumulate::Add => *out + dot as f32,
        };
    }
    Ok(())
}

/// An error naming the operand whose length does not fit `rows × cols`.
pub(crate) fn check_gemv(w: &[f32], rows: usize, cols: usize, x: &[f32], y: &[f32]) -> Result<(), KernelError> {
    let weights = rows.checked_mul(cols).ok_or(KernelError::SizeOverflow { rows, cols })?;
    for (operand, expected, found) in [("weight", weights, w.len()), ("x", cols, x.len()), ("y", rows, y.len())] {
        if expected != found {
            return Err(KernelError::OperandLength { operand, expected, found });
        }
    }
    Ok(())
}

/// `y += W·x` for a row-major `W` of `y.len()` rows of `cols` values: groups of four rows, then the
/// remaining rows one by one, in plain Rust (CPUs without AVX2, and the last `rows % 4` rows of the
/// SIMD kernels).
pub fn generic_gemv_f32_4x16(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
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

/// Runs `group(rows, body)` on each group of four rows (`rows` holds them one after the other;
/// it returns their dot products with `x` over the first `body` columns, a multiple of 16), adds
/// the remaining columns, and finishes the last `rows % 4` rows in plain Rust. Inlined into each
/// SIMD kernel (`x86_64`, `aarch64`), so `group` is compiled with that kernel's features.
#[inline(always)]
pub(crate) fn by_groups(w: &[f32], cols: usize, x: &[f32], y: &mut [f32], group: impl Fn(&[f32], usize) -> [f32; ROWS]) {
    let body = cols / LANES * LANES;
    let full = y.len() / ROWS * ROWS;
    for (rows, out) in w.chunks_exact(ROWS * cols).zip(y[..full].chunks_exact_mut(ROWS)) {
        let sums = group(rows, body);
        for ((o, s), row) in out.iter_mut().zip(sums).zip(rows.chunks_exact(cols)) {
            let tail: f32 = row[body..].iter().zip(&x[body..]).map(|(w, x)| w * x).sum();
            *o += s + tail;
        }
    }
    generic_gemv_f32_4x16(&w[full * cols..], cols, x, &mut y[full..]);
}
