//! The reference route of [`SvdMethod::Exact`](super::SvdMethod::Exact): faer's dense thin SVD
//! of the whole weight in `f64`, every singular value.

use super::{check_fits, factors, rank_for_energy, rank_for_removed, report, svd_failed, to_matrix};
use super::{Factorization, FactorizeError, Job, RankRule};

/// The reference path: faer's full thin SVD.
pub(super) fn factorize_exact(job: Job<'_>) -> Result<Factorization, FactorizeError> {
    let Job { layer, weight, outputs, inputs, rule, capacity } = job;
    let matrix = to_matrix(layer, weight, outputs, inputs)?;
    let svd = matrix.thin_svd().map_err(|e| svd_failed(layer, format!("{e:?}")))?;
    let sigma: Vec<f64> = svd.S().column_vector().iter().copied().collect();

    let (rank, capped) = match rule {
        RankRule::Energy(energy) => {
            let wanted = rank_for_energy(&sigma, energy);
            (wanted.min(capacity), wanted > capacity)
        }
        RankRule::Removed(removed) => (rank_for_removed(removed, inputs, outputs), false),
        RankRule::Fixed(rank) => (rank, false),
    };
    check_fits(layer, rank, capacity, inputs, outputs)?;

    let (u, v) = (svd.U(), svd.V());
    let (first, second) = factors(inputs, outputs, rank, capacity, |k, i| sigma[k] * v[(i, k)], |o, k| u[(o, k)]);

    let total: f64 = sigma.iter().map(|s| s * s).sum();
    let discarded: f64 = sigma[rank..].iter().map(|s| s * s).sum();
    let report = report(layer, inputs, outputs, rank, capacity, capped, total, discarded);
    Ok(Factorization { first, second, report })
}
