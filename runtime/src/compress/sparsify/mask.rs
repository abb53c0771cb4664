//! Masks: which groups to drop, given their scores and a target sparsity.
//!
//! **Exact counts.** fasterai takes the k-th smallest score as a threshold with
//! `k = max(1, int(s·n))` and keeps every group scoring `≥` it, so the k-th group itself survives and
//! the achieved sparsity lands one group short (70% of 64 filters pruned 43, i.e. 67.19%). Here the
//! masks are built by rank instead: exactly `k = ⌊s·n⌋` groups are dropped, the lowest-scored ones, ties
//! broken by position (earlier first), so the achieved sparsity is `⌊s·n⌋ / n`, never above the target
//! and less than one group below it. `⌊·⌋` tolerates the float error of `s·n` (29% of 100 is 29, not 28).
//! A target of 0 drops nothing; a shrinking target (dense-sparse-dense) drops fewer groups, so groups
//! pruned earlier (score 0 after the mask) come back, at value 0.
//!
//! A mask holds one value per group: 1.0 kept, 0.0 dropped; broadcast it onto the weight with
//! [`Granularity::broadcast`](super::Granularity::broadcast).
//!
//! ```
//! use fasterai_runtime::compress::sparsify::local_mask;
//! use fasterai_runtime::units::Sparsity;
//! let scores = [0.9, 0.1, 0.5, 0.3, 0.7];
//! let mask = local_mask(&scores, Sparsity::from_percent(40.0).unwrap(), None).unwrap();
//! assert_eq!(mask, vec![1.0, 0.0, 1.0, 0.0, 1.0]);
//! ```

use std::fmt;
use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use crate::compress::CompressError;
use crate::units::{Ratio, Sparsity};

/// Tolerance on `s·n` before flooring, so a product that should be an integer is not one short.
const FLOOR_SLACK: f64 = 1e-9;

/// How many of `n` units a sparsity drops: `⌊s·n⌋`.
///
/// ```
/// # use fasterai_runtime::compress::sparsify::mask::units_to_drop;
/// # use fasterai_runtime::units::Sparsity;
/// assert_eq!(units_to_drop(64, Sparsity::from_percent(70.0).unwrap()), 44);
/// assert_eq!(units_to_drop(100, Sparsity::from_percent(29.0).unwrap()), 29);
/// ```
pub fn units_to_drop(n: usize, sparsity: Sparsity) -> usize {
    ((sparsity.fraction() * n as f64 + FLOOR_SLACK).floor() as usize).min(n)
}

/// Indices of `scores` from least to most important (ties: earlier first).
fn ascending(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

/// The number kept after rounding `kept` up to a multiple of `r` (and to at least `r`), capped at `n`.
fn round_kept(kept: usize, n: usize, round_to: Option<NonZeroUsize>) -> usize {
    match round_to {
        None => kept,
        Some(r) => {
            let r = r.get();
            (kept.div_ceil(r) * r).max(r).min(n)
        }
    }
}

/// A mask keeping the `keep` best groups among `scores`.
fn keep_best(scores: &[f32], keep: usize) -> Vec<f32> {
    let drop = scores.len() - keep.min(scores.len());
    let mut mask = vec![1.0; scores.len()];
    for &i in &ascending(scores)[..drop] {
        mask[i] = 0.0;
    }
    mask
}

/// One layer's mask from its own group scores: drops exactly `⌊s·n⌋` groups (see the module docs).
///
/// With `round_to = Some(r)`, the number of groups kept is rounded **up** to a multiple of `r`, and to
/// at least `r` (so widths stay friendly to SIMD); never more than the layer has.
///
/// ```
/// # use fasterai_runtime::compress::sparsify::local_mask;
/// # use fasterai_runtime::units::Sparsity;
/// # use std::num::NonZeroUsize;
/// let scores: Vec<f32> = (0..10).map(|i| i as f32).collect();
/// // 70% of 10 drops 7 and keeps 3; rounded up to a multiple of 4, 4 are kept.
/// let mask = local_mask(&scores, Sparsity::from_percent(70.0).unwrap(), NonZeroUsize::new(4)).unwrap();
/// assert_eq!(mask.iter().sum::<f32>(), 4.0);
/// ```
pub fn local_mask(
    scores: &[f32],
    sparsity: Sparsity,
    round_to: Option<NonZeroUsize>,
) -> Result<Vec<f32>, CompressError> {
    if scores.is_empty() {
        return Err(CompressError::NothingToRank { reason: "the layer has no group to score".into() });
    }
    let n = scores.len();
    let kept = round_kept(n - units_to_drop(n, sparsity), n, round_to);
    Ok(keep_best(scores, kept))
}

/// One layer's group scores, for global ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerScores {
    /// The layer's name (its field name), used in errors and reports.
    pub name: String,
    /// One score per group (see [`Criteria::scores`](super::Criteria::scores)).
    pub scores: Vec<f32>,
    /// How many weights one group carries (e.g. `in·kh·kw` for a filter).
    pub params_per_group: usize,
}

/// What a global sparsity target counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// A share of the groups, all layers together (fasterai's global context).
    #[default]
    Groups,
    /// A share of the weights: dropping a group costs the weights it carries, so a filter of a wide
    /// layer counts for more than one of a narrow layer.
    Parameters,
}

/// The fewest groups global ranking must leave in each layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinKept {
    /// At least this many groups (capped at the layer's size).
    Groups(usize),
    /// At least this share of the layer's groups, rounded up.
    Share(Ratio),
}

impl MinKept {
    fn for_layer(self, n: usize) -> usize {
        match self {
            Self::Groups(k) => k.min(n),
            Self::Share(r) => ((r.fraction() * n as f64 - FLOOR_SLACK).ceil().max(0.0) as usize).min(n),
        }
    }
}

/// How [`global_masks`] ranks groups across layers.
///
/// The default reproduces fasterai's global context (raw scores, one ranking of all groups, no floor),
/// with exact counts. On DESIGN.md's SmallVgg that ranking left conv widths `[32, 1, 1, 64]` at 50%: a
/// layer whose raw scores are small (wide fan-in makes mean magnitudes small) loses almost every filter.
/// [`GlobalOptions::balanced`] avoids it: scores divided by their layer's mean, a budget counted in
/// weights, and a minimum width per layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlobalOptions {
    /// Divide each layer's scores by the layer's mean score before ranking, so a score says how a group
    /// compares with the rest of its own layer.
    pub normalise_per_layer: bool,
    /// What the target sparsity counts.
    pub budget: Budget,
    /// The fewest groups left in any layer.
    pub min_kept: MinKept,
    /// Round each layer's kept count up to a multiple of this (and to at least it).
    pub round_to: Option<NonZeroUsize>,
}

impl Default for GlobalOptions {
    fn default() -> Self {
        Self { normalise_per_layer: false, budget: Budget::Groups, min_kept: MinKept::Groups(0), round_to: None }
    }
}

impl GlobalOptions {
    /// Per-layer normalised scores, a budget in weights, and at least a quarter of each layer kept.
    ///
    /// Ranking by a group's *mean* score against a budget in weights is the greedy answer to
    /// "drop this many weights while losing the least total score": a group's total score divided by
    /// its cost is its mean score.
    pub fn balanced() -> Self {
        Self {
            normalise_per_layer: true,
            budget: Budget::Parameters,
            min_kept: MinKept::Share(Ratio::from_fraction(0.25).unwrap_or(Ratio::ZERO)),
            round_to: None,
        }
    }
}

/// Masks for several layers ranked together against one target (fasterai's global context), one mask
/// per layer in the order given.
///
/// Groups are visited from the lowest score up and dropped while the budget allows and their layer
/// keeps more than its minimum; with [`Budget::Groups`] and no minimum that drops exactly `⌊s·N⌋` of
/// the `N` groups: the groups a single threshold over the concatenated scores would drop, except that
/// ties at the threshold are split by position (layer order, then group order) to hit the count.
/// With [`Budget::Parameters`], a group that does not fit in what is left of the budget is skipped and
/// cheaper ones after it are still taken, so the weights dropped never exceed the target.
///
/// ```
/// use fasterai_runtime::compress::sparsify::{global_masks, GlobalOptions, LayerScores};
/// use fasterai_runtime::units::Sparsity;
/// let layers = vec![
///     LayerScores { name: "conv1".into(), scores: vec![4.0, 5.0, 6.0], params_per_group: 9 },
///     LayerScores { name: "conv2".into(), scores: vec![0.1, 0.2, 0.3], params_per_group: 27 },
/// ];
/// let half = Sparsity::from_percent(50.0).unwrap();
/// // Raw ranking empties conv2; balanced ranking prunes each layer by its own standards.
/// let raw = global_masks(&layers, half, &GlobalOptions::default()).unwrap();
/// assert_eq!(raw[1], vec![0.0, 0.0, 0.0]);
/// let balanced = global_masks(&layers, half, &GlobalOptions::balanced()).unwrap();
/// assert!(balanced.iter().all(|m| m.iter().sum::<f32>() >= 1.0));
/// ```
pub fn global_masks(
    layers: &[LayerScores],
    sparsity: Sparsity,
    options: &GlobalOptions,
) -> Result<Vec<Vec<f32>>, CompressError> {
    if layers.is_empty() {
        return Err(CompressError::NothingToRank { reason: "global ranking got no layer".into() });
    }
    for l in layers {
        if l.scores.is_empty() || l.params_per_group == 0 {
            return Err(CompressError::NothingToRank {
                reason: format!("layer `{}` has {} groups of {} weights", l.name, l.scores.len(), l.params_per_group),
            });
        }
    }
    // (layer, group, ranking score) for every group.
    let mut all: Vec<(usize, usize, f32)> = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        let mean = l.scores.iter().sum::<f32>() / l.scores.len() as f32;
        let scale = if options.normalise_per_layer && mean > 0.0 { 1.0 / mean } else { 1.0 };
        all.extend(l.scores.iter().enumerate().map(|(g, &s)| (li, g, s * scale)));
    }
    all.sort_by(|a, b| a.2.total_cmp(&b.2).then((a.0, a.1).cmp(&(b.0, b.1))));

    let cost = |li: usize| match options.budget {
        Budget::Groups => 1,
        Budget::Parameters => layers[li].params_per_group,
    };
    let total: usize = layers.iter().enumerate().map(|(li, l)| l.scores.len() * cost(li)).sum();
    let mut budget = units_to_drop(total, sparsity);
    let floor: Vec<usize> = layers.iter().map(|l| options.min_kept.for_layer(l.scores.len())).collect();
    let mut kept: Vec<usize> = layers.iter().map(|l| l.scores.len()).collect();
    let mut masks: Vec<Vec<f32>> = layers.iter().map(|l| vec![1.0; l.scores.len()]).collect();
    for &(li, g, _) in &all {
        if budget == 0 {
            break;
        }
        if cost(li) <= budget && kept[li] > floor[li] {
            masks[li][g] = 0.0;
            kept[li] -= 1;
            budget -= cost(li);
        }
    }
    if options.round_to.is_some() {
        for (li, l) in layers.iter().enumerate() {
            let n = l.scores.len();
            let want = round_kept(kept[li], n, options.round_to);
            if want != kept[li] {
                masks[li] = keep_best(&l.scores, want);
            }
        }
    }
    Ok(masks)
}

/// N:M sparsity: in every run of `m` consecutive input channels, keep the `n` best weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NmPattern {
    /// Weights kept per group.
    pub n: usize,
    /// Group size along the input channels.
    pub m: usize,
}

impl NmPattern {
    /// The 2:4 pattern sparse tensor cores accelerate (50% sparsity).
    pub const TWO_FOUR: NmPattern = NmPattern { n: 2, m: 4 };

    /// Any pattern with `0 < n ≤ m`.
    pub fn new(n: usize, m: usize) -> Result<Self, CompressError> {
        if n == 0 || n > m {
            return Err(CompressError::BadNm { n, m });
        }
        Ok(Self { n, m })
    }
}

/// The N:M mask of one layer from per-weight `scores` of a conv `(out, in, kh, kw)` or linear
/// `(out, in)` weight: in each run of `m` input channels at a fixed output and kernel position, the `n`
/// highest scores are kept (ties: earlier channel kept). The result is weight-shaped.
///
/// ```
/// use fasterai_runtime::compress::sparsify::{nm_mask, NmPattern};
/// let scores = [0.1, 0.9, 0.5, 0.2, /* next row */ 4.0, 3.0, 2.0, 1.0];
/// let mask = nm_mask("fc", &scores, &[2, 4], NmPattern::TWO_FOUR).unwrap();
/// assert_eq!(mask, vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// assert!(nm_mask("fc", &[0.0; 6], &[2, 3], NmPattern::TWO_FOUR).is_err());
/// ```
pub fn nm_mask(layer: &str, scores: &[f32], shape: &[usize], pattern: NmPattern) -> Result<Vec<f32>, CompressError> {
    if shape.len() != 2 && shape.len() != 4 {
        return Err(CompressError::RankMismatch {
            what: format!("{n}:{m} sparsity on layer `{layer}`", n = pattern.n, m = pattern.m),
            expected: "2 or 4",
            shape: shape.to_vec(),
        });
    }
    super::granularity::check_len("scores", scores.len(), shape)?;
    let NmPattern { n, m } = NmPattern::new(pattern.n, pattern.m)?;
    let (out, cin) = (shape[0], shape[1]);
    if cin % m != 0 {
        return Err(CompressError::NmIndivisible { layer: layer.to_string(), in_channels: cin, n, m });
    }
    let inner: usize = shape[2..].iter().product();
    let mut mask = vec![0.0; scores.len()];
    let mut block: Vec<usize> = Vec::with_capacity(m);
    for o in 0..out {
        for k in 0..inner {
            for start in (0..cin).step_by(m) {
                block.clear();
                block.extend((start..start + m).map(|i| (o * cin + i) * inner + k));
                block.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                for &i in &block[..n] {
                    mask[i] = 1.0;
                }
            }
        }
    }
    Ok(mask)
}

/// How sparse one layer's weight is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSparsity {
    /// The layer's name.
    pub name: String,
    /// Weights equal to zero.
    pub zeros: usize,
    /// All weights.
    pub total: usize,
}

impl LayerSparsity {
    /// Counts the zeros of a weight.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::LayerSparsity;
    /// let s = LayerSparsity::measure("conv3", &[0.0, 1.0, 0.0, 2.0]);
    /// assert_eq!(s.to_string(), "Sparsity in conv3: 50.00%");
    /// ```
    pub fn measure(name: impl Into<String>, weights: &[f32]) -> Self {
        Self { name: name.into(), zeros: weights.iter().filter(|&&w| w == 0.0).count(), total: weights.len() }
    }

    /// The share of zeros (0 for an empty weight).
    pub fn sparsity(&self) -> Sparsity {
        sparsity_of(self.zeros, self.total)
    }
}

fn sparsity_of(zeros: usize, total: usize) -> Sparsity {
    if total == 0 {
        return Sparsity::ZERO;
    }
    Sparsity::from_fraction(zeros as f64 / total as f64).unwrap_or(Sparsity::FULL)
}

impl fmt::Display for LayerSparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sparsity in {}: {}", self.name, self.sparsity())
    }
}

/// The sparsity of every sparsified layer, one line each, then the overall figure.
///
/// ```
/// # use fasterai_runtime::compress::sparsify::{LayerSparsity, SparsityReport};
/// let report = SparsityReport::new(vec![
///     LayerSparsity { name: "conv1".into(), zeros: 0, total: 4 },
///     LayerSparsity { name: "conv3".into(), zeros: 623, total: 1000 },
/// ]);
/// assert_eq!(report.to_string(), "Sparsity in conv1: 0.00%\nSparsity in conv3: 62.30%\nOverall sparsity: 62.05%\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SparsityReport {
    /// One entry per layer, in model order.
    pub layers: Vec<LayerSparsity>,
}

impl SparsityReport {
    /// A report of these layers.
    pub fn new(layers: Vec<LayerSparsity>) -> Self {
        Self { layers }
    }

    /// Zeros over weights, all layers together.
    pub fn overall(&self) -> Sparsity {
        let zeros = self.layers.iter().map(|l| l.zeros).sum();
        let total = self.layers.iter().map(|l| l.total).sum();
        sparsity_of(zeros, total)
    }
}

impl fmt::Display for SparsityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(f, "{l}")?;
        }
        writeln!(f, "Overall sparsity: {}", self.overall())
    }
}

#[cfg(test)]
#[path = "mask_tests.rs"]
mod tests;
