//! Factorization of a Linear layer by truncated SVD: `Linear<I, O>` becomes `UnbiasedLinear<I, K>`
//! followed by `Linear<K, O>`.
//!
//! With `W = U·S·Vᵀ` (singular values `σ₁ ≥ σ₂ ≥ …`) and the first `K` of them kept,
//! `W ≈ U_K · (S_K·V_Kᵀ)`. The singular values go to the **first** new layer (as fasterai does):
//!
//! - first layer, `UnbiasedLinear<I, K>`: weight `(K × I) = S_K·V_Kᵀ`, no bias;
//! - second layer, `Linear<K, O>`: weight `(O × K) = U_K`, the original bias.
//!
//! The second weight has orthonormal columns, so all the scale sits in the first one. By the
//! Eckart–Young theorem the Frobenius error is `‖W − U_K S_K V_Kᵀ‖ = √(Σ_{k>K} σ_k²)`, the smallest
//! any rank-`K` product can reach. The SVD runs in `f64` (crate `faer`) and the factors are
//! rounded once to `f32`.
//!
//! ## Two routes to the SVD ([`SvdMethod`])
//! Small layers (`min(I, O) <` [`GRAM_MIN_DIM`]) take faer's dense thin SVD, every singular
//! value. Large ones take the Gram route: only the `K` kept triplets, from the eigenvectors of
//! the smaller side's Gram matrix (`f32`, multi-threaded) refined by a Rayleigh–Ritz step in
//! `f64`, so the kept singular values agree with the dense SVD to about 1e-9 relative and the
//! factors to `f32` rounding; the discarded energy is `‖W‖²_F − Σ kept σ²` (see
//! [`SvdMethod::Gram`] and the `gram` module's notes). VGG16's fc1 (`4096 × 12544`) and fc2
//! (`4096 × 4096`) at rank 2048 take ~2 min by the dense SVD on one thread and a fraction of it
//! this way (`cargo run --release --example factorize_timing -- --exact` times and compares both).
//!
//! ## Choosing K
//! - [`RankRule::Removed`]: `K = max(1, ⌊(1 − removed)·min(I, O)⌋)` ([`rank_for_removed`]), so
//!   `Linear<3136, 256>` at 50% becomes rank 128. The compress! macro computes this at compile
//!   time, so the new type is known.
//! - [`RankRule::Energy`]: the smallest `K` whose cumulative energy `Σ_{k≤K} σ_k² / Σ σ²` reaches
//!   the threshold ([`rank_for_energy`]). This depends on trained weights, yet the new type must be
//!   fixed when the program compiles, so the type carries a **compile-time maximum rank** (the
//!   capacity): the rule picks `K ≤ capacity`, the first `K` rows of the first weight and columns
//!   of the second hold the factors, and the remaining `capacity − K` rows/columns are zero. The
//!   layer computes exactly the rank-`K` product (zeros add nothing); [`FactorizeReport`] says the
//!   rank used, whether the capacity capped it, and the energy kept. To shed the zero rows, run a
//!   prune step on the middle width or compile again with the reported rank.
//! - [`RankRule::Fixed`]: a given `K`.
//!
//! ```
//! use fasterai_runtime::compress::factorize::factorize_linear;
//! use fasterai_runtime::nn::Linear;
//! use fasterai_runtime::dfdx::prelude::*;
//! let dev: Cpu = Default::default();
//! let fc: Linear<32, 16> = BuildModule::build(&dev);
//! let (first, second) = factorize_linear::<32, 16, 8>("fc1", &fc)?;
//! let x = dev.sample_normal::<Rank2<4, 32>>();
//! let y = second.forward(first.forward(x)); // (4, 16), like fc
//! assert_eq!(y.shape().1, Const::<16>);
//! # Ok::<(), fasterai_runtime::compress::FactorizeError>(())
//! ```

use dfdx::prelude::{Const, Cpu, Rank2, Tensor, TensorFromVec};
use faer::Mat;

use super::FactorizeError;

mod exact;
mod gram;
mod phases;
use crate::nn::{Linear, UnbiasedLinear};
use crate::units::{Energy, Ratio};

/// How the kept rank `K` is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RankRule {
    /// Discard this share of the rank: `K = max(1, ⌊(1 − removed)·min(I, O)⌋)`.
    Removed(Ratio),
    /// Keep the smallest `K` whose singular values hold this share of the energy `Σσ²`, capped by
    /// the capacity (the compile-time maximum rank).
    Energy(Energy),
    /// Exactly this rank.
    Fixed(usize),
}

/// The rank kept when `removed` of a `outputs × inputs` matrix's rank is discarded:
/// `max(1, ⌊(1 − removed)·min(inputs, outputs)⌋)`, with the product rounded to the nearest
/// integer first when it lies within 1e-9 of it (so 70% of 10 is 7, not 6).
///
/// ```
/// use fasterai_runtime::compress::factorize::rank_for_removed;
/// use fasterai_runtime::units::Ratio;
/// assert_eq!(rank_for_removed(Ratio::from_percent(50.0).unwrap(), 3136, 256), 128);
/// assert_eq!(rank_for_removed(Ratio::from_percent(30.0).unwrap(), 10, 20), 7);
/// assert_eq!(rank_for_removed(Ratio::FULL, 10, 20), 1);
/// ```
pub fn rank_for_removed(removed: Ratio, inputs: usize, outputs: usize) -> usize {
    let full = inputs.min(outputs) as f64;
    let kept = (1.0 - removed.fraction()) * full;
    let rounded = kept.round();
    let kept = if (kept - rounded).abs() < 1e-9 { rounded } else { kept.floor() };
    (kept as usize).max(1)
}

/// The smallest rank `K ≥ 1` whose first `K` singular values (sorted in decreasing order) hold at
/// least `energy` of `Σσ²`. A zero matrix gives 1.
///
/// ```
/// use fasterai_runtime::compress::factorize::rank_for_energy;
/// use fasterai_runtime::units::Energy;
/// // Energies 16, 4, 0.25: the first holds 79%, the first two 98.8%.
/// let s = [4.0, 2.0, 0.5];
/// assert_eq!(rank_for_energy(&s, Energy::from_percent(75.0).unwrap()), 1);
/// assert_eq!(rank_for_energy(&s, Energy::from_percent(90.0).unwrap()), 2);
/// assert_eq!(rank_for_energy(&s, Energy::FULL), 3);
/// ```
pub fn rank_for_energy(singular_values: &[f64], energy: Energy) -> usize {
    let total: f64 = singular_values.iter().map(|s| s * s).sum();
    if total <= 0.0 {
        return 1;
    }
    let target = energy.fraction() * total;
    let mut cumulative = 0.0;
    for (k, s) in singular_values.iter().enumerate() {
        cumulative += s * s;
        if cumulative >= target {
            return k + 1;
        }
    }
    singular_values.len().max(1)
}

/// What a factorization kept and what it cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FactorizeReport {
    /// The layer.
    pub layer: String,
    /// Inputs `I` of the original layer.
    pub inputs: usize,
    /// Outputs `O` of the original layer.
    pub outputs: usize,
    /// The rank the rule chose (rows of the first weight that are not zero-filled).
    pub rank: usize,
    /// The middle width of the new layers (the compile-time maximum rank); `capacity − rank` rows
    /// and columns are zero.
    pub capacity: usize,
    /// True when the energy rule wanted more than `capacity` and was cut to it.
    pub capped: bool,
    /// Share of `Σσ²` the kept singular values hold, in `[0, 1]`.
    pub energy_kept: f64,
    /// `√(Σ discarded σ²)`: the Frobenius norm of `W − first·second`, before rounding to `f32`.
    pub frobenius_error: f64,
    /// `frobenius_error / ‖W‖_F` (0 for a zero matrix).
    pub relative_error: f64,
}

/// The two factors of a weight, as flat row-major `f32` vectors, and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Factorization {
    /// Weight of the first layer, `capacity × inputs`: `S_K·V_Kᵀ`, zero-filled below row `rank`.
    pub first: Vec<f32>,
    /// Weight of the second layer, `outputs × capacity`: `U_K`, zero-filled right of column `rank`.
    pub second: Vec<f32>,
    /// What was kept.
    pub report: FactorizeReport,
}

/// The singular values of the row-major `outputs × inputs` matrix `weight`, largest first.
///
/// ```
/// use fasterai_runtime::compress::factorize::singular_values;
/// let s = singular_values("fc", &[3.0, 0.0, 0.0, -2.0], 2, 2).unwrap();
/// assert!((s[0] - 3.0).abs() < 1e-12 && (s[1] - 2.0).abs() < 1e-12);
/// ```
pub fn singular_values(
    layer: &str,
    weight: &[f32],
    outputs: usize,
    inputs: usize,
) -> Result<Vec<f64>, FactorizeError> {
    let matrix = to_matrix(layer, weight, outputs, inputs)?;
    matrix.singular_values().map_err(|e| svd_failed(layer, format!("{e:?}")))
}

/// Factorizes the row-major `outputs × inputs` matrix `weight` into a `capacity × inputs` first
/// factor and an `outputs × capacity` second factor, keeping the rank `rule` chooses.
///
/// Errors if `capacity` is 0 or above `min(inputs, outputs)`, if a [`RankRule::Fixed`] or
/// [`RankRule::Removed`] rank exceeds `capacity` (an [`RankRule::Energy`] rank is capped and
/// reported instead), or if the weights are not finite.
///
/// ```
/// use fasterai_runtime::compress::factorize::{factorize, RankRule};
/// use fasterai_runtime::units::Energy;
/// // A rank-one 2×3 matrix: all its energy sits in one singular value.
/// let w = [1.0, 2.0, 3.0, 2.0, 4.0, 6.0];
/// let f = factorize("fc", &w, 2, 3, RankRule::Energy(Energy::from_percent(99.0).unwrap()), 2).unwrap();
/// assert_eq!((f.report.rank, f.report.capacity), (1, 2));
/// assert!(f.report.frobenius_error < 1e-6);
/// assert_eq!(&f.first[3..], &[0.0, 0.0, 0.0]); // second row of the first factor: zero-filled
/// ```
pub fn factorize(
    layer: &str,
    weight: &[f32],
    outputs: usize,
    inputs: usize,
    rule: RankRule,
    capacity: usize,
) -> Result<Factorization, FactorizeError> {
    factorize_using(layer, weight, outputs, inputs, rule, capacity, SvdMethod::Auto)
}

/// How [`factorize_using`] computes the truncated SVD. Both give the same factorization up to
/// rounding (and the signs of singular vector pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SvdMethod {
    /// [`SvdMethod::Gram`] when `min(inputs, outputs) ≥` [`GRAM_MIN_DIM`], else
    /// [`SvdMethod::Exact`].
    #[default]
    Auto,
    /// faer's dense thin SVD in `f64`, one thread: every singular value, slow on large layers
    /// (about a minute for a `4096 × 12544` weight).
    Exact,
    /// Only the kept singular triplets, through the Gram matrix of the smaller side:
    /// multi-threaded products, an `f32` eigen-decomposition refined by Rayleigh–Ritz in `f64`.
    /// The kept singular values match [`SvdMethod::Exact`] to about 1e-9 relative (tested at
    /// 1e-6); the discarded energy is `‖W‖²_F − Σ kept σ²`. Needs `min(inputs, outputs) ≥ 2`
    /// (smaller matrices fall back to [`SvdMethod::Exact`]).
    Gram,
}

/// The smallest `min(inputs, outputs)` for which [`SvdMethod::Auto`] takes the Gram route.
pub const GRAM_MIN_DIM: usize = 512;

/// [`factorize`] with a chosen [`SvdMethod`].
///
/// ```
/// use fasterai_runtime::compress::factorize::{factorize_using, RankRule, SvdMethod};
/// let w: Vec<f32> = (0..12).map(|k| ((k * 7) % 5) as f32 - 2.0).collect();
/// let exact = factorize_using("fc", &w, 3, 4, RankRule::Fixed(2), 2, SvdMethod::Exact).unwrap();
/// let gram = factorize_using("fc", &w, 3, 4, RankRule::Fixed(2), 2, SvdMethod::Gram).unwrap();
/// let (a, b) = (exact.report.frobenius_error, gram.report.frobenius_error);
/// assert!((a - b).abs() < 1e-6 * a.max(1.0));
/// ```
pub fn factorize_using(
    layer: &str,
    weight: &[f32],
    outputs: usize,
    inputs: usize,
    rule: RankRule,
    capacity: usize,
    method: SvdMethod,
) -> Result<Factorization, FactorizeError> {
    check_rank(layer, capacity, inputs, outputs)?;
    let smaller = inputs.min(outputs);
    let gram = match method {
        SvdMethod::Auto => smaller >= GRAM_MIN_DIM,
        SvdMethod::Exact => false,
        SvdMethod::Gram => smaller >= 2,
    };
    let job = Job { layer, weight, outputs, inputs, rule, capacity };
    if gram {
        gram::factorize_gram(job)
    } else {
        exact::factorize_exact(job)
    }
}

/// One weight for [`factorize_all`]: [`factorize_using`]'s arguments.
#[derive(Debug, Clone, Copy)]
pub struct FactorizeRequest<'a> {
    /// The layer's name, for the report and errors.
    pub layer: &'a str,
    /// Row-major, `outputs × inputs`.
    pub weight: &'a [f32],
    /// Rows of the weight.
    pub outputs: usize,
    /// Columns of the weight.
    pub inputs: usize,
    /// How the kept rank is chosen.
    pub rule: RankRule,
    /// The compile-time maximum rank (the factors' middle width).
    pub capacity: usize,
    /// The SVD route.
    pub method: SvdMethod,
}

/// Factorizes several weights at once, one result per request in order, each the same as
/// [`factorize_using`] on its own: the largest (by `min(I, O)²·max(I, O)`, the Gram route's
/// cost) on every core, the others one after another beside it on a helper thread with a
/// one-thread rayon pool of its own.
///
/// Each SVD is multi-threaded, but some of its phases leave cores idle (faer's tridiagonalization
/// synchronizes at every column, its divide and conquer solves secular equations on one thread
/// at each merge): run together, the serial SVD fills them, at the price of sharing caches and
/// memory bandwidth. Memory is the sum of two working sets (about 0.9 GB for VGG16's
/// `4096 × 12544` fc1 at rank 2048 by the Gram route). `compress!` still factorizes its layers
/// one after another: on a loaded machine this costs more CPU time than it saves (see
/// `docs/performance.md`); `cargo run --release --example factorize_timing -- --side-by-side`
/// compares the two.
///
/// ```
/// use fasterai_runtime::compress::factorize::{factorize_all, FactorizeRequest, RankRule, SvdMethod};
/// let (a, b): (Vec<f32>, Vec<f32>) = ((0..24).map(|k| (k % 7) as f32).collect(), (0..12).map(|k| (k % 5) as f32).collect());
/// let request = |layer, weight, outputs, inputs| FactorizeRequest {
///     layer, weight, outputs, inputs, rule: RankRule::Fixed(2), capacity: 2, method: SvdMethod::Auto,
/// };
/// let results = factorize_all(&[request("fc1", &a[..], 4, 6), request("fc2", &b[..], 3, 4)]);
/// assert_eq!(results[1].as_ref().unwrap().report.layer, "fc2");
/// ```
pub fn factorize_all(requests: &[FactorizeRequest<'_>]) -> Vec<Result<Factorization, FactorizeError>> {
    let run = |r: &FactorizeRequest<'_>| factorize_using(r.layer, r.weight, r.outputs, r.inputs, r.rule, r.capacity, r.method);
    let cost = |r: &FactorizeRequest<'_>| {
        let (n, l) = (r.inputs.min(r.outputs) as f64, r.inputs.max(r.outputs) as f64);
        n * n * l
    };
    let Some(largest) = (0..requests.len()).max_by(|&i, &j| cost(&requests[i]).total_cmp(&cost(&requests[j]))) else {
        return Vec::new();
    };
    let (first, others) = side_by_side(
        || run(&requests[largest]),
        || requests.iter().enumerate().filter(|&(k, _)| k != largest).map(|(_, r)| run(r)).collect::<Vec<_>>(),
    );
    let mut others = others.into_iter();
    let mut first = Some(first);
    (0..requests.len()).filter_map(|k| if k == largest { first.take() } else { others.next() }).collect()
}

/// Runs `a` on the calling thread (with rayon's pool: every core) and meanwhile `b` on a helper
/// thread inside a one-thread rayon pool of its own, so that `b`'s faer and rayon work runs
/// serially beside `a`'s; returns both results. With one rayon thread, or if the helper pool
/// cannot be made, `a` then `b` on the calling thread.
///
/// This is how [`factorize_all`] runs several SVDs at once. Not `rayon::join`: faer's
/// tridiagonalization forks and joins at each of its `n` columns, and a rayon thread waiting at
/// such a join may pick up a long task of the other SVD, stalling its own.
fn side_by_side<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let lane = (rayon::current_num_threads() > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok());
    let Some(Some(lane)) = lane else { return (a(), b()) };
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| lane.install(b));
        let first = a();
        match helper.join() {
            Ok(second) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// One factorization for a route to make: [`factorize_using`]'s arguments but the method.
#[derive(Clone, Copy)]
struct Job<'a> {
    layer: &'a str,
    /// Row-major, `outputs × inputs`.
    weight: &'a [f32],
    outputs: usize,
    inputs: usize,
    rule: RankRule,
    capacity: usize,
}

#[allow(clippy::too_many_arguments)]
fn report(
    layer: &str,
    inputs: usize,
    outputs: usize,
    rank: usize,
    capacity: usize,
    capped: bool,
    total: f64,
    discarded: f64,
) -> FactorizeReport {
    FactorizeReport {
        layer: layer.to_string(),
        inputs,
        outputs,
        rank,
        capacity,
        capped,
        energy_kept: if total > 0.0 { (total - discarded) / total } else { 1.0 },
        frobenius_error: discarded.sqrt(),
        relative_error: if total > 0.0 { (discarded / total).sqrt() } else { 0.0 },
    }
}

/// Factorizes a Linear weight `(O × I)` into the weights of `UnbiasedLinear<I, K>` (`K × I`) and
/// `Linear<K, O>` (`O × K`), with `K` the capacity (see the module docs for the rules).
#[allow(clippy::type_complexity)]
pub fn factorize_weight<const I: usize, const O: usize, const K: usize>(
    layer: &str,
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
    rule: RankRule,
) -> Result<(Tensor<Rank2<K, I>, f32, Cpu>, Tensor<Rank2<O, K>, f32, Cpu>, FactorizeReport), FactorizeError> {
    let f = factorize(layer, &weight.as_vec(), O, I, rule, K)?;
    let dev = weight.device();
    Ok((
        dev.tensor_from_vec(f.first, (Const::<K>, Const::<I>)),
        dev.tensor_from_vec(f.second, (Const::<O>, Const::<K>)),
        f.report,
    ))
}

/// Replaces `Linear<I, O>` by `UnbiasedLinear<I, K>` then `Linear<K, O>` (which keeps the original
/// bias), keeping exactly rank `K`. Errors if `K` is 0 or above `min(I, O)`.
///
/// See the module docs for an example.
pub fn factorize_linear<const I: usize, const O: usize, const K: usize>(
    layer: &str,
    linear: &Linear<I, O>,
) -> Result<(UnbiasedLinear<I, K>, Linear<K, O>), FactorizeError> {
    factorize_linear_with::<I, O, K>(layer, linear, RankRule::Fixed(K)).map(|(a, b, _)| (a, b))
}

/// Like [`factorize_linear`] with any [`RankRule`]; `K` is the capacity (the compile-time
/// maximum rank), and the report says which rank was used.
///
/// ```
/// use fasterai_runtime::compress::factorize::{factorize_linear_with, RankRule};
/// use fasterai_runtime::nn::Linear;
/// use fasterai_runtime::units::Energy;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let fc: Linear<64, 32> = BuildModule::build(&dev);
/// let rule = RankRule::Energy(Energy::from_percent(90.0).unwrap());
/// let (_first, _second, report) = factorize_linear_with::<64, 32, 16>("fc1", &fc, rule)?;
/// assert!(report.rank <= 16);
/// assert!(report.capped || report.energy_kept >= 0.9);
/// # Ok::<(), fasterai_runtime::compress::FactorizeError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn factorize_linear_with<const I: usize, const O: usize, const K: usize>(
    layer: &str,
    linear: &Linear<I, O>,
    rule: RankRule,
) -> Result<(UnbiasedLinear<I, K>, Linear<K, O>, FactorizeReport), FactorizeError> {
    let (first, second, report) = factorize_weight::<I, O, K>(layer, &linear.weight, rule)?;
    Ok((UnbiasedLinear { weight: first }, Linear { weight: second, bias: linear.bias.clone() }, report))
}

/// [`factorize_linear_with`] under [`RankRule::Energy`] with a whole percentage, as
/// `compress!`'s `factorize(fc1 = 64, energy = 90%)` generates it: `K` is the maximum rank, the
/// rank used is the smallest that keeps `energy_percent`% of `Σσ²` (the rows past it are zero).
///
/// ```
/// use fasterai_runtime::compress::factorize::factorize_linear_energy;
/// use fasterai_runtime::nn::Linear;
/// use fasterai_runtime::dfdx::prelude::*;
/// let fc: Linear<64, 32> = BuildModule::build(&Cpu::default());
/// let (_first, _second, report) = factorize_linear_energy::<64, 32, 16>("fc1", &fc, 90)?;
/// assert!(report.rank <= 16 && report.capacity == 16);
/// # Ok::<(), fasterai_runtime::compress::FactorizeError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn factorize_linear_energy<const I: usize, const O: usize, const K: usize>(
    layer: &str,
    linear: &Linear<I, O>,
    energy_percent: u32,
) -> Result<(UnbiasedLinear<I, K>, Linear<K, O>, FactorizeReport), FactorizeError> {
    let bad = || FactorizeError::BadEnergy { layer: layer.to_string(), percent: energy_percent };
    if energy_percent == 0 {
        return Err(bad());
    }
    let energy = Energy::from_percent(f64::from(energy_percent)).map_err(|_| bad())?;
    factorize_linear_with::<I, O, K>(layer, linear, RankRule::Energy(energy))
}

fn check_rank(layer: &str, rank: usize, inputs: usize, outputs: usize) -> Result<(), FactorizeError> {
    let max = inputs.min(outputs);
    if rank == 0 {
        Err(FactorizeError::ZeroRank { layer: layer.to_string() })
    } else if rank > max {
        Err(FactorizeError::RankTooLarge { layer: layer.to_string(), rank, inputs, outputs, max })
    } else {
        Ok(())
    }
}

/// [`check_rank`], then the rank fits in the `capacity` the factors are made for.
fn check_fits(layer: &str, rank: usize, capacity: usize, inputs: usize, outputs: usize) -> Result<(), FactorizeError> {
    check_rank(layer, rank, inputs, outputs)?;
    if rank > capacity {
        return Err(FactorizeError::BeyondCapacity { layer: layer.to_string(), rank, capacity });
    }
    Ok(())
}

/// The SVD of `layer` failed for `reason`.
fn svd_failed(layer: &str, reason: String) -> FactorizeError {
    FactorizeError::Svd { layer: layer.to_string(), reason }
}

/// The `capacity × inputs` first factor (row `k` is `first_at(k, ·)`) and the `outputs × capacity`
/// second (column `k` is `second_at(·, k)`), rounded to `f32`; rows and columns from `rank` on are zero.
fn factors(
    inputs: usize,
    outputs: usize,
    rank: usize,
    capacity: usize,
    first_at: impl Fn(usize, usize) -> f64,
    second_at: impl Fn(usize, usize) -> f64,
) -> (Vec<f32>, Vec<f32>) {
    let mut first = vec![0.0f32; capacity * inputs];
    for k in 0..rank {
        for i in 0..inputs {
            first[k * inputs + i] = first_at(k, i) as f32;
        }
    }
    let mut second = vec![0.0f32; outputs * capacity];
    for o in 0..outputs {
        for k in 0..rank {
            second[o * capacity + k] = second_at(o, k) as f32;
        }
    }
    (first, second)
}

fn to_matrix(layer: &str, weight: &[f32], outputs: usize, inputs: usize) -> Result<Mat<f64>, FactorizeError> {
    check_weight(layer, weight, outputs, inputs)?;
    Ok(Mat::from_fn(outputs, inputs, |o, i| f64::from(weight[o * inputs + i])))
}

/// The weight holds `outputs × inputs` finite values.
fn check_weight(layer: &str, weight: &[f32], outputs: usize, inputs: usize) -> Result<(), FactorizeError> {
    if weight.len() != outputs * inputs || weight.is_empty() {
        return Err(FactorizeError::Length {
            layer: layer.to_string(),
            expected: outputs * inputs,
            got: weight.len(),
            outputs,
            inputs,
        });
    }
    if let Some(k) = weight.iter().position(|w| !w.is_finite()) {
        return Err(FactorizeError::NonFinite {
            layer: layer.to_string(),
            row: k / inputs,
            column: k % inputs,
            value: weight[k],
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
