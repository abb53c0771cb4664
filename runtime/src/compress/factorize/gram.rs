//! The truncated SVD of a large weight through the Gram matrix of its smaller side, for
//! [`SvdMethod::Gram`](super::SvdMethod::Gram).
//!
//! A dense SVD of VGG16's fc1 (`4096 × 12544` after pruning) costs a bidiagonalization of the
//! whole matrix; the Gram route replaces it by matrix products (multi-threaded, cache-blocked)
//! and one symmetric eigen-decomposition of the `n × n` Gram matrix, `n = min(O, I)`:
//!
//! 1. `M` is the weight seen wide (`n × L`, `n ≤ L`: `W` itself, or `Wᵀ` when `O > I`), and
//!    the lower half of `G = M·Mᵀ` is computed in `f32`.
//! 2. `G`'s top `m + pad` eigenvectors in `f32` (faer: tridiagonalization, divide and conquer,
//!    and the back-transformation of only the columns kept). `f32` halves the memory traffic of
//!    the tridiagonalization, the step that dominates; its eigenvalues alone would be off by
//!    about `ε₃₂·σ₁²/σᵢ²` relative, which is why they are not used.
//! 3. **Rayleigh–Ritz in `f64`**: the eigenvectors, orthonormalized by one Cholesky QR pass
//!    (`Q₀ᵀQ₀ = L·Lᵀ`, `Q = Q₀·L⁻ᵀ`: their `f32` error of ~1e-6 drops to `f64` rounding), span a
//!    subspace `Q`; `B = Qᵀ·M` (the weights widened to `f64` a block of columns at a time, no
//!    whole `f64` copy) and the small `H = B·Bᵀ` (its lower half) are computed in `f64`, and `H`'s
//!    eigen-decomposition (faer, `f64`) gives the singular values and vectors. The Ritz values'
//!    error is quadratic in the subspace's angle to the exact one, so the kept singular values
//!    match the exact SVD to ~1e-9 relative (tested at 1e-6), whatever `f32` did to the Gram
//!    matrix; the `pad` extra directions (at most 64) absorb eigenvectors that `f32` ranked on
//!    the wrong side of the cut.
//! 4. Wide: `U_K = Q·Z`, `S_K·V_Kᵀ = Zᵀ·B` (no division). Tall: `V_K = Q·Z`, `U_K = (Zᵀ·B)ᵀ·S_K⁻¹`
//!    (a column whose singular value is zero, or below `σ₁·1e-12`, is left zero: it contributes
//!    nothing to the product).
//!
//! Every phase but the `f32` → `f64` widenings is a faer call on rayon's pool; the copies are
//! rayon loops. `FASTERAI_SVD_PHASES=1` times each phase (the `phases` module).
//!
//! Trade-offs: only the kept singular values are computed; the discarded energy is
//! `‖W‖²_F − Σ kept σ²`, exact up to `f64` cancellation (`~1e-16·‖W‖²_F` absolute).

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::{self, tridiag, ComputeEigenvectors};
use faer::linalg::cholesky::llt::factor as llt;
use faer::linalg::householder;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve;
use faer::{Accum, Col, Conj, Mat, MatMut, MatRef, Par, Side};
use rayon::prelude::*;

use super::phases::Phases;
use super::{check_fits, check_weight, rank_for_removed, report, svd_failed};
use super::{Factorization, FactorizeError, Job, RankRule};

/// The fast path: only the singular triplets the rule may keep (see [`SvdMethod::Gram`](super::SvdMethod::Gram)).
pub(super) fn factorize_gram(job: Job<'_>) -> Result<Factorization, FactorizeError> {
    let Job { layer, weight, outputs, inputs, rule, capacity } = job;
    check_weight(layer, weight, outputs, inputs)?;
    // The most singular values the rule can keep; a fixed rank is checked before the work.
    let wanted = match rule {
        RankRule::Energy(_) => capacity,
        RankRule::Removed(removed) => rank_for_removed(removed, inputs, outputs),
        RankRule::Fixed(rank) => rank,
    };
    check_fits(layer, wanted, capacity, inputs, outputs)?;
    let mut phases = Phases::start(|| format!("{layer} {outputs}×{inputs} m={wanted}"));
    let svd = truncated_svd_timed(weight, outputs, inputs, wanted, &mut phases).map_err(|reason| svd_failed(layer, reason))?;
    let (rank, capped) = match rule {
        RankRule::Energy(energy) => {
            // The smallest rank whose energy reaches the target, if the capacity holds it.
            let target = energy.fraction() * svd.total;
            let mut cumulative = 0.0;
            let reached = svd.sigma.iter().position(|s| {
                cumulative += s * s;
                cumulative >= target
            });
            match reached {
                Some(k) => (k + 1, false),
                // Every singular value kept and still short of the target: rounding, not a cap.
                None if capacity == inputs.min(outputs) => (capacity, false),
                None => (capacity, true),
            }
        }
        _ => (wanted, false),
    };

    let (first, second) = factors_f32(&svd, inputs, outputs, rank, capacity);
    let kept: f64 = svd.sigma[..rank].iter().map(|s| s * s).sum();
    // Full rank discards nothing; otherwise the difference, exact up to cancellation.
    let discarded = if rank == inputs.min(outputs) { 0.0 } else { (svd.total - kept).max(0.0) };
    let report = report(layer, inputs, outputs, rank, capacity, capped, svd.total, discarded);
    phases.mark("factors to f32");
    Ok(Factorization { first, second, report })
}

/// The `capacity × inputs` first factor and `outputs × capacity` second factor in `f32` (rows and
/// columns from `rank` on zero), in parallel.
fn factors_f32(svd: &Truncated, inputs: usize, outputs: usize, rank: usize, capacity: usize) -> (Vec<f32>, Vec<f32>) {
    let mut first = vec![0.0f32; capacity * inputs];
    write_rows(svd.right_scaled().subrows(0, rank), &mut first, inputs);
    let mut second = vec![0.0f32; outputs * capacity];
    write_rows(svd.left().subcols(0, rank), &mut second, capacity);
    (first, second)
}

/// Rows of `src` rounded to `f32` into the row-major `dst` (row `r` starts at `r·stride`), in
/// parallel by bands of [`BAND`] rows. A column-major `src` is read a band's column at a time
/// (`BAND` consecutive `f64`), not one strided element per row.
fn write_rows(src: MatRef<'_, f64>, dst: &mut [f32], stride: usize) {
    let (rows, cols) = (src.nrows(), src.ncols());
    let column_major = src.row_stride() == 1;
    dst[..rows * stride].par_chunks_mut(BAND * stride).enumerate().for_each(|(band, out)| {
        let first_row = band * BAND;
        let height = BAND.min(rows - first_row);
        if column_major {
            for c in 0..cols {
                for r in 0..height {
                    out[r * stride + c] = src[(first_row + r, c)] as f32;
                }
            }
        } else {
            for r in 0..height {
                let row = &mut out[r * stride..r * stride + cols];
                row.iter_mut().enumerate().for_each(|(c, x)| *x = src[(first_row + r, c)] as f32);
            }
        }
    });
}

/// Rows per task of [`write_rows`]: a column-major source is read 512 contiguous bytes (8 cache
/// lines) per column, so the prefetcher keeps up with a stride that jumps a page per column.
const BAND: usize = 64;

/// The leading `m` singular triplets of a weight.
pub(super) struct Truncated {
    /// The kept singular values, largest first.
    pub sigma: Vec<f64>,
    /// `Σ σ²` over all singular values, i.e. `‖W‖²_F`.
    pub total: f64,
    /// [`Truncated::left`] (`O × m`), stored transposed when `transposed`.
    left: Mat<f64>,
    /// [`Truncated::right_scaled`] (`m × I`), stored transposed when `transposed`.
    right_scaled: Mat<f64>,
    /// The products came out transposed (a tall weight): read through views, not copied.
    transposed: bool,
}

impl Truncated {
    /// `O × m`: the left singular vectors `u_k` as columns.
    pub fn left(&self) -> MatRef<'_, f64> {
        if self.transposed { self.left.transpose() } else { self.left.as_ref() }
    }

    /// `m × I`: the rows `σ_k·v_kᵀ`.
    pub fn right_scaled(&self) -> MatRef<'_, f64> {
        if self.transposed { self.right_scaled.transpose() } else { self.right_scaled.as_ref() }
    }
}

/// Extra eigenvectors carried into the Rayleigh–Ritz step beyond the `m` wanted.
fn pad(n: usize, m: usize) -> usize {
    (n - m).min((m / 32).clamp(8, 64))
}

/// Columns of `M` converted to `f64` at a time for `B = Qᵀ·M` (a `n × 2048` block is 64 MiB at
/// `n = 4096`, instead of a whole `f64` copy of the weight).
const BLOCK: usize = 2048;

/// The leading `m` singular triplets of the row-major `outputs × inputs` matrix `weight`
/// (finite, `1 ≤ m ≤ min(outputs, inputs)`, `min(outputs, inputs) ≥ 2`). The error is faer's
/// message if a decomposition did not converge.
#[cfg(test)]
pub(super) fn truncated_svd(weight: &[f32], outputs: usize, inputs: usize, m: usize) -> Result<Truncated, String> {
    truncated_svd_timed(weight, outputs, inputs, m, &mut Phases::start(String::new))
}

/// [`truncated_svd`], marking its phases on `phases`.
fn truncated_svd_timed(
    weight: &[f32],
    outputs: usize,
    inputs: usize,
    m: usize,
    phases: &mut Phases,
) -> Result<Truncated, String> {
    let par = Par::rayon(0);
    let wide = outputs <= inputs;
    let (n, l) = if wide { (outputs, inputs) } else { (inputs, outputs) };
    debug_assert!(n >= 2 && (1..=n).contains(&m) && weight.len() == n * l);
    // The wide view M (n × L) of the row-major weight: W itself, or Wᵀ (the same slice read
    // column-major).
    let m32 = wide_view(weight, wide, n, l);
    let total: f64 = weight.par_iter().map(|&w| f64::from(w) * f64::from(w)).sum();

    // 1-2. Approximate top eigenvectors of G = M·Mᵀ, in f32.
    let width = m + pad(n, m);
    let approx = top_eigenvectors_f32(m32, width, par, phases)?;

    // 3. Orthonormalize in f64, then Rayleigh–Ritz.
    let q = orthonormalize(&approx, par)?;
    drop(approx);
    phases.mark("orthonormalize f64");
    let b = project(&q, weight, wide, n, l, BLOCK, par);
    phases.mark("B = QᵀM f64");
    let mut h = Mat::<f64>::zeros(width, width);
    lower_gram(h.as_mut(), b.as_ref(), 1.0, par); // the eigensolver reads the lower half only
    phases.mark("H = BBᵀ f64");
    let eigen = h.self_adjoint_eigen(Side::Lower).map_err(|e| format!("{e:?}"))?;
    drop(h);
    // Eigenvalues ascend: the kept ones are the last m, taken largest first.
    let (values, vectors) = (eigen.S().column_vector(), eigen.U());
    let sigma: Vec<f64> = (0..m).map(|k| values[width - 1 - k].max(0.0).sqrt()).collect();
    let z = Mat::<f64>::from_fn(width, m, |r, k| vectors[(r, width - 1 - k)]);
    drop(eigen);
    phases.mark("eigen of H f64");

    // 4. The factors.
    let mut y = Mat::<f64>::zeros(n, m); // left vectors of M
    matmul(y.as_mut(), Accum::Replace, q.as_ref(), z.as_ref(), 1.0, par);
    drop(q);
    let mut c = Mat::<f64>::zeros(m, l); // rows σ_k·(right vector of M)ᵀ
    matmul(c.as_mut(), Accum::Replace, z.transpose(), b.as_ref(), 1.0, par);
    drop(b);
    let (left, right_scaled) = if wide {
        (y, c)
    } else {
        // M = Wᵀ: its left vectors are W's right ones, and C's rows are σ_k·u_kᵀ; both are
        // rescaled in place and handed over transposed (`left = Cᵀ`, `right_scaled = Yᵀ`).
        let floor = sigma[0] * 1e-12;
        let inverse: Vec<f64> = sigma.iter().map(|&s| if s > floor && s > 0.0 { 1.0 / s } else { 0.0 }).collect();
        c.par_col_iter_mut().for_each(|col| col.iter_mut().zip(&inverse).for_each(|(x, s)| *x *= s));
        y.par_col_iter_mut().enumerate().for_each(|(k, col)| col.iter_mut().for_each(|x| *x *= sigma[k]));
        (c, y)
    };
    phases.mark("QZ, ZᵀB f64");
    Ok(Truncated { sigma, total, left, right_scaled, transposed: !wide })
}

/// `Q` with orthonormal columns spanning the columns of `approx` (`n × w`, `w ≤ n`, orthonormal
/// to about `f32` rounding), in `f64`, by Cholesky QR: `S = Q₀ᵀQ₀ = L·Lᵀ`, `Q = Q₀·L⁻ᵀ`.
///
/// `Q₀` is `approx` widened to `f64`, so `S` is `I` up to ~1e-6 and its condition number is
/// `1 + O(1e-6)`: one Cholesky QR pass leaves `QᵀQ = I` to `f64` rounding (its error grows with
/// `κ(Q₀)²·ε₆₄`), and, unlike a Newton–Schulz step, it never needs the full product `Q₀ᵀQ₀`
/// (only its lower half, at half the cost) nor a second `n × w × w` product (the triangular
/// solve costs half of one). The span, all Rayleigh–Ritz depends on, is unchanged.
fn orthonormalize(approx: &Mat<f32>, par: Par) -> Result<Mat<f64>, String> {
    let (n, w) = (approx.nrows(), approx.ncols());
    let mut q = Mat::<f64>::zeros(n, w);
    q.par_col_iter_mut().enumerate().for_each(|(c, col)| {
        col.iter_mut().zip(approx.col(c).iter()).for_each(|(x, &a)| *x = f64::from(a));
    });
    let mut s = Mat::<f64>::zeros(w, w);
    lower_gram(s.as_mut(), q.transpose(), 1.0, par);
    let mut buffer = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(w, par, Default::default()));
    llt::cholesky_in_place(s.as_mut(), Default::default(), par, MemStack::new(&mut buffer), Default::default())
        .map_err(|e| format!("orthonormalization: {e:?}"))?;
    // Q·Lᵀ = Q₀, i.e. L·Qᵀ = Q₀ᵀ.
    triangular_solve::solve_lower_triangular_in_place(s.as_ref(), q.as_mut().transpose_mut(), par);
    Ok(q)
}

/// `B = Qᵀ·M` in `f64` (`w × L`), `M` the wide view of the row-major `weight`, converted to
/// `f64` `block` columns at a time ([`BLOCK`]; exactly: every `f32` is an `f64`).
///
/// The block's rows (wide) or columns (tall) are [`PAD`] elements longer than they need be: at
/// a power-of-two pitch (16 KiB for 2048 `f64`) the product's packing, which walks across them,
/// maps every element to the same cache sets (fc1's product took half again as long).
fn project(q: &Mat<f64>, weight: &[f32], wide: bool, n: usize, l: usize, block: usize, par: Par) -> Mat<f64> {
    let (width, step) = (block.min(l), block);
    let mut b = Mat::<f64>::zeros(q.ncols(), l);
    let pitch = if wide { width + PAD } else { n + PAD };
    let mut block = vec![0.0f64; if wide { n * pitch } else { width * pitch }];
    for start in (0..l).step_by(step) {
        let cols = step.min(l - start);
        let view = if wide {
            // Rows of W from column `start` on: the block row-major (n × cols).
            block.par_chunks_mut(pitch).enumerate().for_each(|(r, row)| {
                let source = &weight[r * l + start..r * l + start + cols];
                row.iter_mut().zip(source).for_each(|(x, &w)| *x = f64::from(w));
            });
            MatRef::from_row_major_slice_with_stride(&block[..(n - 1) * pitch + cols], n, cols, pitch)
        } else {
            // Columns of M are rows of W, contiguous: the block column-major (n × cols).
            let source = &weight[start * n..(start + cols) * n];
            block.par_chunks_mut(pitch).zip(source.par_chunks(n)).for_each(|(column, source)| {
                column.iter_mut().zip(source).for_each(|(x, &w)| *x = f64::from(w));
            });
            MatRef::from_column_major_slice_with_stride(&block[..(cols - 1) * pitch + n], n, cols, pitch)
        };
        matmul(b.as_mut().subcols_mut(start, cols), Accum::Replace, q.transpose(), view, 1.0, par);
    }
    b
}

/// Padding of [`project`]'s block rows or columns, in `f64`: one cache line.
const PAD: usize = 8;

/// The lower half (diagonal included) of `a·aᵀ` into `dst`, at half the cost of the product.
fn lower_gram<T: faer::traits::ComplexField>(dst: MatMut<'_, T>, a: MatRef<'_, T>, one: T, par: Par) {
    triangular::matmul(
        dst,
        BlockStructure::TriangularLower,
        Accum::Replace,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        one,
        par,
    );
}

/// The `n × l` view of a row-major weight that is `n × l` (`wide`) or `l × n`.
fn wide_view<T>(data: &[T], wide: bool, n: usize, l: usize) -> MatRef<'_, T> {
    if wide {
        MatRef::from_row_major_slice(data, n, l)
    } else {
        MatRef::from_column_major_slice(data, n, l)
    }
}

/// The eigenvectors of `M·Mᵀ` (computed in `f32`) for its `width` largest eigenvalues, as the
/// columns of an `n × width` matrix, largest last.
fn top_eigenvectors_f32(m32: MatRef<'_, f32>, width: usize, par: Par, phases: &mut Phases) -> Result<Mat<f32>, String> {
    let n = m32.nrows();
    let mut g = Mat::<f32>::zeros(n, n);
    lower_gram(g.as_mut(), m32, 1.0, par); // the tridiagonalization reads the lower half only
    phases.mark("gram f32");

    let block = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f32>(n, n);
    let mut reflectors = Mat::<f32>::zeros(block, n - 1);
    let mut buffer = MemBuffer::new(StackReq::any_of(&[
        tridiag::tridiag_in_place_scratch::<f32>(n, par, Default::default()),
        evd::self_adjoint_evd_scratch::<f32>(n, ComputeEigenvectors::Yes, par, Default::default()),
        householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f32>(n - 1, block, width),
    ]));
    // G = Q·T·Qᵀ: T tridiagonal, Q's reflectors stored below G's subdiagonal.
    tridiag::tridiag_in_place(g.as_mut(), reflectors.as_mut(), par, MemStack::new(&mut buffer), Default::default());
    phases.mark("tridiagonalize f32");
    let diag = Col::<f32>::from_fn(n, |i| g[(i, i)]);
    let offdiag = Col::<f32>::from_fn(n, |i| if i + 1 < n { g[(i + 1, i)] } else { 0.0 });
    let mut values = Col::<f32>::zeros(n);
    let mut vectors = Mat::<f32>::zeros(n, n);
    evd::tridiagonal_self_adjoint_evd(
        diag.as_diagonal(),
        offdiag.as_diagonal(),
        values.as_diagonal_mut(),
        Some(vectors.as_mut()),
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    )
    .map_err(|e| format!("{e:?}"))?;
    phases.mark("tridiagonal evd f32");
    // Back to G's basis, for the kept columns only.
    let mut top = vectors.subcols(n - width, width).to_owned();
    drop(vectors);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        g.submatrix(1, 0, n - 1, n - 1),
        reflectors.as_ref(),
        Conj::No,
        top.as_mut().subrows_mut(1, n - 1),
        par,
        MemStack::new(&mut buffer),
    );
    phases.mark("back-transform f32");
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::super::{factorize_using, singular_values, Factorization, RankRule, SvdMethod};
    use crate::test_support::random_vec;
    use crate::units::Energy;
    use rand::{rngs::SmallRng, SeedableRng};

    /// `second·first` (row-major `outputs × inputs`) in f64.
    fn product(f: &Factorization, outputs: usize, inputs: usize) -> Vec<f64> {
        let k = f.report.capacity;
        let mut out = vec![0.0; outputs * inputs];
        for o in 0..outputs {
            for r in 0..k {
                let s = f64::from(f.second[o * k + r]);
                for i in 0..inputs {
                    out[o * inputs + i] += s * f64::from(f.first[r * inputs + i]);
                }
            }
        }
        out
    }

    /// A weight with a decaying spectrum: a random matrix times a diagonal ramp on its columns.
    fn decaying(rng: &mut SmallRng, outputs: usize, inputs: usize) -> Vec<f32> {
        let mut w = random_vec(rng, outputs * inputs, 1.0);
        for o in 0..outputs {
            for i in 0..inputs {
                w[o * inputs + i] *= 1.0 / (1.0 + i as f32 / 8.0);
            }
        }
        w
    }

    #[test]
    fn kept_singular_values_and_products_match_the_exact_svd() {
        let mut rng = SmallRng::seed_from_u64(11);
        for (outputs, inputs, rank, decay) in
            [(96, 300, 48, false), (300, 96, 40, false), (128, 128, 64, false), (120, 200, 30, true), (200, 64, 64, true)]
        {
            let w = if decay { decaying(&mut rng, outputs, inputs) } else { random_vec(&mut rng, outputs * inputs, 1.0) };
            let exact_sigma = singular_values("fc", &w, outputs, inputs).unwrap();
            let rule = RankRule::Fixed(rank);
            let exact = factorize_using("fc", &w, outputs, inputs, rule, rank, SvdMethod::Exact).unwrap();
            let gram = factorize_using("fc", &w, outputs, inputs, rule, rank, SvdMethod::Gram).unwrap();
            // The kept singular values: row k of `first` is σ_k·v_kᵀ with ‖v_k‖ = 1 (wide), or
            // column k of `second` is u_k (tall: ‖σ_k v_k‖ again); so ‖first row k‖ = σ_k.
            let mut worst = 0.0f64;
            for k in 0..rank {
                let row = &gram.first[k * inputs..(k + 1) * inputs];
                let norm = row.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                worst = worst.max((norm - exact_sigma[k]).abs() / exact_sigma[k]);
            }
            // Rounding the rows to f32 bounds this check at ~1e-7.
            assert!(worst < 1e-6, "{outputs}×{inputs}: σ differs by {worst:e} relative");
            let (a, b) = (exact.report.frobenius_error, gram.report.frobenius_error);
            // Σ discarded σ² = ‖W‖² − Σ kept σ² cancels to ~1e-16·‖W‖² absolute.
            let norm = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            assert!((a - b).abs() <= 1e-6 * a + 1e-7 * norm, "{outputs}×{inputs}: error {a} vs {b}");
            assert!((exact.report.energy_kept - gram.report.energy_kept).abs() < 1e-9);
            // The rank-K truncation is unique when σ_K > σ_{K+1}: both products agree.
            let (pe, pg) = (product(&exact, outputs, inputs), product(&gram, outputs, inputs));
            let scale = w.iter().fold(0.0f32, |m, x| m.max(x.abs())) as f64;
            let diff = pe.iter().zip(&pg).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(diff < 1e-5 * scale, "{outputs}×{inputs}: products differ by {diff:e}");
            // The second factor's columns are orthonormal.
            for a in 0..rank {
                for b in 0..=a {
                    let dot: f64 = (0..outputs)
                        .map(|o| f64::from(gram.second[o * rank + a]) * f64::from(gram.second[o * rank + b]))
                        .sum();
                    let expected = if a == b { 1.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-5, "{outputs}×{inputs}: u{a}·u{b} = {dot}");
                }
            }
        }
    }

    #[test]
    fn kept_singular_values_match_at_six_digits_on_an_exact_spectrum() {
        // W = U·diag(σ)·Vᵀ with known σ: the Gram route's kept values, read from the f64
        // factors before rounding, agree with them and with the exact SVD to 1e-6 relative.
        let mut rng = SmallRng::seed_from_u64(12);
        let (outputs, inputs, rank) = (160, 400, 80);
        let w = decaying(&mut rng, outputs, inputs);
        let exact = singular_values("fc", &w, outputs, inputs).unwrap();
        let svd = super::truncated_svd(&w, outputs, inputs, rank).unwrap();
        let worst = (0..rank).map(|k| (svd.sigma[k] - exact[k]).abs() / exact[k]).fold(0.0, f64::max);
        assert!(worst < 1e-6, "kept σ differ by {worst:e} relative");
        let total: f64 = exact.iter().map(|s| s * s).sum();
        assert!((svd.total - total).abs() < 1e-10 * total);
    }

    #[test]
    fn energy_rule_and_caps_agree_with_the_exact_path() {
        let mut rng = SmallRng::seed_from_u64(13);
        let (outputs, inputs) = (100, 180);
        let w = decaying(&mut rng, outputs, inputs);
        for (percent, capacity) in [(50.0, 60), (90.0, 60), (99.9, 20), (100.0, 100)] {
            let rule = RankRule::Energy(Energy::from_percent(percent).unwrap());
            let exact = factorize_using("fc", &w, outputs, inputs, rule, capacity, SvdMethod::Exact).unwrap();
            let gram = factorize_using("fc", &w, outputs, inputs, rule, capacity, SvdMethod::Gram).unwrap();
            assert_eq!((gram.report.rank, gram.report.capped), (exact.report.rank, exact.report.capped), "{percent}%");
            assert!((gram.report.energy_kept - exact.report.energy_kept).abs() < 1e-9, "{percent}%");
        }
    }

    #[test]
    fn cholesky_qr_orthonormalizes_and_keeps_the_span() {
        // Orthonormal columns perturbed at f32's scale, as the f32 eigenvectors come.
        let (n, w) = (70, 30);
        let mut rng = SmallRng::seed_from_u64(14);
        let noise = random_vec(&mut rng, n * w, 1e-6);
        let approx = faer::Mat::<f32>::from_fn(n, w, |r, c| if r == c { 1.0 } else { 0.0 } + noise[c * n + r]);
        let q = super::orthonormalize(&approx, faer::Par::Seq).unwrap();
        for a in 0..w {
            for b in 0..w {
                let dot: f64 = (0..n).map(|r| q[(r, a)] * q[(r, b)]).sum();
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-13, "q{a}·q{b} = {dot}");
            }
        }
        // Q = Q₀·L⁻ᵀ with L lower triangular: column c of Q is a combination of Q₀'s first c + 1.
        for c in 0..w {
            for r in c + 1..w {
                assert!(q[(r, c)].abs() < 1e-5, "Q[{r}, {c}] = {}", q[(r, c)]);
            }
        }
    }

    #[test]
    fn the_blocked_projection_is_the_product() {
        // Blocks of 7 columns: several, and a ragged last one, on both views of the weight.
        let mut rng = SmallRng::seed_from_u64(15);
        let (n, l, w) = (9, 40, 5);
        let weight = random_vec(&mut rng, n * l, 1.0);
        let q_values = random_vec(&mut rng, n * w, 1.0);
        let q = faer::Mat::<f64>::from_fn(n, w, |r, c| f64::from(q_values[c * n + r]));
        for wide in [true, false] {
            let b = super::project(&q, &weight, wide, n, l, 7, faer::Par::Seq);
            for r in 0..w {
                for c in 0..l {
                    let at = |k: usize| if wide { weight[k * l + c] } else { weight[c * n + k] };
                    let expected: f64 = (0..n).map(|k| q[(k, r)] * f64::from(at(k))).sum();
                    assert!((b[(r, c)] - expected).abs() < 1e-12, "wide {wide}: B[{r}, {c}]");
                }
            }
        }
    }

    #[test]
    fn rows_are_written_alike_from_either_layout() {
        let (rows, cols, stride) = (70, 9, 11); // more rows than a band, a stride past the columns
        let column_major = faer::Mat::<f64>::from_fn(rows, cols, |r, c| (r * 100 + c) as f64);
        let row_major_storage = faer::Mat::<f64>::from_fn(cols, rows, |c, r| (r * 100 + c) as f64);
        for src in [column_major.as_ref(), row_major_storage.transpose()] {
            let mut dst = vec![-1.0f32; rows * stride];
            super::write_rows(src, &mut dst, stride);
            for r in 0..rows {
                for c in 0..stride {
                    let expected = if c < cols { (r * 100 + c) as f32 } else { -1.0 };
                    assert_eq!(dst[r * stride + c], expected, "({r}, {c})");
                }
            }
        }
    }

    #[test]
    fn rank_deficient_and_zero_weights_stay_finite() {
        // A rank-2 tall weight factorized at rank 4: two singular values are zero.
        let (outputs, inputs) = (30, 12);
        let w: Vec<f32> =
            (0..outputs * inputs).map(|k| ((k / inputs) as f32 + 1.0) * ((k % inputs) as f32 - 5.0) + (k % inputs == 3) as u8 as f32).collect();
        let f = factorize_using("fc", &w, outputs, inputs, RankRule::Fixed(4), 4, SvdMethod::Gram).unwrap();
        assert!(f.first.iter().chain(&f.second).all(|x| x.is_finite()));
        let p = product(&f, outputs, inputs);
        let diff = w.iter().zip(&p).map(|(&a, b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-4, "rank-2 weight reconstructed to {diff:e}");
        let zero = vec![0.0f32; outputs * inputs];
        let f = factorize_using("fc", &zero, outputs, inputs, RankRule::Fixed(3), 3, SvdMethod::Gram).unwrap();
        assert!(f.first.iter().chain(&f.second).all(|&x| x == 0.0));
        assert_eq!((f.report.frobenius_error, f.report.energy_kept), (0.0, 1.0));
    }
}
