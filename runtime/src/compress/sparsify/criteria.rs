//! Criteria: how important each weight is, then each group of weights.
//!
//! The pipeline follows fasterai's `Criteria.__call__`, on one layer's weight:
//! 1. a per-weight score from the current weights, and, depending on the criterion, the initial
//!    (rewind) weights, the weights at the previous pruning step, the gradient or the input
//!    activation norm, all carried by a [`WeightState`];
//! 2. **rescale**: if the smallest score is negative, shift all by its opposite; then add `f32::EPSILON`,
//!    so every live weight scores strictly above 0;
//! 3. multiply by the layer's current mask, so weights already pruned score 0 and stay pruned first;
//! 4. mean-reduce over the [`Granularity`]'s axes (one score per group);
//! 5. optionally normalise the group scores ([`Normalizer`]).
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{Criteria, Criterion, Granularity, LinearGranularity, WeightState};
//! let w = [0.5, -2.0, 0.0, 1.0]; // a (2, 2) linear weight
//! let state = WeightState::new(&w, &[2, 2]);
//! let rows = Criteria::new(Criterion::LargeFinal)
//!     .scores(&state, Granularity::Linear(LinearGranularity::Row))
//!     .unwrap();
//! // mean |W| per output row, plus f32::EPSILON
//! assert!((rows.values[0] - 1.25).abs() < 1e-6 && (rows.values[1] - 0.5).abs() < 1e-6);
//! ```

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::granularity::{check_len, Granularity, GroupScores};
use crate::compress::CompressError;

/// What is known about one layer's weight when it is scored. Only `current` and `shape` are required;
/// criteria that need more return [`CompressError::MissingInput`] naming what is missing.
#[derive(Debug, Clone, Copy)]
pub struct WeightState<'a> {
    /// The weight's shape: `(out, in, kh, kw)` for a conv, `(out, in)` for a linear.
    pub shape: &'a [usize],
    /// The current weights, row-major.
    pub current: &'a [f32],
    /// The initial weights (or the lottery-ticket rewind snapshot).
    pub init: Option<&'a [f32]>,
    /// The weights at the previous pruning step (for the `Updating*` criteria).
    pub previous: Option<&'a [f32]>,
    /// The loss gradient with respect to the weights (for first-order Taylor).
    pub gradient: Option<&'a [f32]>,
    /// One activation norm per input channel (`shape[1]` values), see [`ActivationStats`] (for Wanda).
    pub activation_norm: Option<&'a [f32]>,
    /// The layer's current mask (1 kept, 0 pruned), if it was sparsified before.
    pub mask: Option<&'a [f32]>,
}

impl<'a> WeightState<'a> {
    /// The current weights of the given shape, nothing else.
    pub fn new(current: &'a [f32], shape: &'a [usize]) -> Self {
        Self { shape, current, init: None, previous: None, gradient: None, activation_norm: None, mask: None }
    }

    /// With the initial (or rewind) weights.
    pub fn with_init(self, init: &'a [f32]) -> Self {
        Self { init: Some(init), ..self }
    }

    /// With the weights at the previous pruning step.
    pub fn with_previous(self, previous: &'a [f32]) -> Self {
        Self { previous: Some(previous), ..self }
    }

    /// With the gradient of the loss.
    pub fn with_gradient(self, gradient: &'a [f32]) -> Self {
        Self { gradient: Some(gradient), ..self }
    }

    /// With one activation norm per input channel.
    pub fn with_activation_norm(self, norm: &'a [f32]) -> Self {
        Self { activation_norm: Some(norm), ..self }
    }

    /// With the current mask.
    pub fn with_mask(self, mask: &'a [f32]) -> Self {
        Self { mask: Some(mask), ..self }
    }

    fn check(&self) -> Result<(), CompressError> {
        check_len("current weights", self.current.len(), self.shape)?;
        let same = [
            ("initial weights", self.init),
            ("previous weights", self.previous),
            ("gradient", self.gradient),
            ("mask", self.mask),
        ];
        for (what, v) in same {
            if let Some(v) = v {
                check_len(what, v.len(), self.shape)?;
            }
        }
        if let Some(norm) = self.activation_norm {
            let channels = self.shape.get(1).copied().unwrap_or(0);
            check_len("activation norm", norm.len(), &[channels])?;
        }
        Ok(())
    }
}

/// A per-weight importance score. Names and formulas are fasterai's (W current, Wi initial, Wp previous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Criterion {
    /// Standard normal noise, reproducible from `seed` (a baseline). The same seed gives the same
    /// noise to layers of the same size: vary it per layer (e.g. seed + layer index) for independent draws.
    Random {
        /// Seed of the generator.
        seed: u64,
    },
    /// |W|: keep large weights.
    LargeFinal,
    /// W².
    SquaredFinal,
    /// −|W|: keep small weights.
    SmallFinal,
    /// |Wi|.
    LargeInit,
    /// −|Wi|.
    SmallInit,
    /// min(|W|, |Wi|).
    LargeInitLargeFinal,
    /// −max(|W|, |Wi|).
    SmallInitSmallFinal,
    /// |W| − |Wi|.
    MagnitudeIncrease,
    /// |W − Wi|.
    Movement,
    /// |W·(W − Wi)|.
    Movmag,
    /// |W| − |Wp|.
    UpdatingMagnitudeIncrease,
    /// |W − Wp|.
    UpdatingMovement,
    /// |W·(W − Wp)|.
    UpdatingMovmag,
    /// |W|·‖X‖ with ‖X‖ the activation norm of the weight's input channel (Wanda).
    Wanda,
    /// First-order Taylor: (W·∇W)², mean over the group. Needs the gradient; an error without it.
    /// Unlike fasterai's `grad_crit` it goes through the rescale and the mask like every criterion:
    /// the scores only gain `f32::EPSILON`, and pruned weights (W = 0) score 0 either way.
    Taylor,
    /// (W·∇W)² when a gradient is given, W² otherwise (fasterai's `grad_crit` fallback, asked for explicitly).
    TaylorOrSquared,
}

impl Criterion {
    /// Every criterion, `Random` with seed 0.
    pub const ALL: [Criterion; 17] = [
        Self::Random { seed: 0 },
        Self::LargeFinal,
        Self::SquaredFinal,
        Self::SmallFinal,
        Self::LargeInit,
        Self::SmallInit,
        Self::LargeInitLargeFinal,
        Self::SmallInitSmallFinal,
        Self::MagnitudeIncrease,
        Self::Movement,
        Self::Movmag,
        Self::UpdatingMagnitudeIncrease,
        Self::UpdatingMovement,
        Self::UpdatingMovmag,
        Self::Wanda,
        Self::Taylor,
        Self::TaylorOrSquared,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random { .. } => "random",
            Self::LargeFinal => "large_final",
            Self::SquaredFinal => "squared_final",
            Self::SmallFinal => "small_final",
            Self::LargeInit => "large_init",
            Self::SmallInit => "small_init",
            Self::LargeInitLargeFinal => "large_init_large_final",
            Self::SmallInitSmallFinal => "small_init_small_final",
            Self::MagnitudeIncrease => "magnitude_increase",
            Self::Movement => "movement",
            Self::Movmag => "movmag",
            Self::UpdatingMagnitudeIncrease => "updating_magnitude_increase",
            Self::UpdatingMovement => "updating_movement",
            Self::UpdatingMovmag => "updating_movmag",
            Self::Wanda => "wanda",
            Self::Taylor => "taylor",
            Self::TaylorOrSquared => "taylor_or_squared",
        }
    }

    /// Whether the initial (rewind) weights must be kept for this criterion.
    pub fn needs_init(self) -> bool {
        matches!(
            self,
            Self::LargeInit
                | Self::SmallInit
                | Self::LargeInitLargeFinal
                | Self::SmallInitSmallFinal
                | Self::MagnitudeIncrease
                | Self::Movement
                | Self::Movmag
        )
    }

    /// Whether the weights at the previous pruning step must be kept (refresh them after each step).
    pub fn needs_previous(self) -> bool {
        matches!(self, Self::UpdatingMagnitudeIncrease | Self::UpdatingMovement | Self::UpdatingMovmag)
    }

    /// Whether a calibration pass must provide activation norms.
    pub fn needs_activations(self) -> bool {
        self == Self::Wanda
    }

    /// Whether the gradient must be kept.
    pub fn needs_gradient(self) -> bool {
        self == Self::Taylor
    }

    /// The raw per-weight score, before rescaling.
    pub fn per_weight(self, state: &WeightState<'_>) -> Result<Vec<f32>, CompressError> {
        state.check()?;
        let w = state.current;
        let missing = |needs, hint| CompressError::MissingInput { criterion: self.name(), needs, hint };
        let init = || {
            state.init.ok_or_else(|| missing("initial weights", "keep a snapshot of the weights (at init or at the rewind epoch) and pass it with `WeightState::with_init`"))
        };
        let prev = || {
            state.previous.ok_or_else(|| {
                missing(
                    "weights of the previous pruning step",
                    "snapshot the weights after each pruning step and pass them with `WeightState::with_previous`",
                )
            })
        };
        let map = |f: fn(f32) -> f32| w.iter().map(|&x| f(x)).collect::<Vec<f32>>();
        let zip =
            |other: &[f32], f: fn(f32, f32) -> f32| w.iter().zip(other).map(|(&a, &b)| f(a, b)).collect::<Vec<f32>>();
        Ok(match self {
            Self::Random { seed } => {
                let mut rng = SmallRng::seed_from_u64(seed);
                (0..w.len()).map(|_| StandardNormal.sample(&mut rng)).collect()
            }
            Self::LargeFinal => map(f32::abs),
            Self::SquaredFinal => map(|x| x * x),
            Self::SmallFinal => map(|x| -x.abs()),
            Self::LargeInit => init()?.iter().map(|x| x.abs()).collect(),
            Self::SmallInit => init()?.iter().map(|x| -x.abs()).collect(),
            Self::LargeInitLargeFinal => zip(init()?, |a, b| a.abs().min(b.abs())),
            Self::SmallInitSmallFinal => zip(init()?, |a, b| -a.abs().max(b.abs())),
            Self::MagnitudeIncrease => zip(init()?, |a, b| a.abs() - b.abs()),
            Self::Movement => zip(init()?, |a, b| (a - b).abs()),
            Self::Movmag => zip(init()?, |a, b| (a * (a - b)).abs()),
            Self::UpdatingMagnitudeIncrease => zip(prev()?, |a, b| a.abs() - b.abs()),
            Self::UpdatingMovement => zip(prev()?, |a, b| (a - b).abs()),
            Self::UpdatingMovmag => zip(prev()?, |a, b| (a * (a - b)).abs()),
            Self::Wanda => {
                let norm = state.activation_norm.ok_or_else(|| {
                    missing("activation norm of each input channel", "run calibration batches through the layer, reduce its inputs with `ActivationStats`, and pass the result with `WeightState::with_activation_norm`")
                })?;
                if state.shape.len() != 2 && state.shape.len() != 4 {
                    return Err(CompressError::RankMismatch {
                        what: "criterion `wanda`".into(),
                        expected: "2 or 4",
                        shape: state.shape.to_vec(),
                    });
                }
                // Input channel of flat index i: (i / inner) % in, with inner = kh*kw (1 for linear).
                let inner: usize = state.shape[2..].iter().product();
                let cin = state.shape[1];
                w.iter().enumerate().map(|(i, x)| x.abs() * norm[(i / inner) % cin]).collect()
            }
            Self::Taylor => {
                let g = state.gradient.ok_or_else(|| missing("gradient of the loss", "run a backward pass first and pass the weight's gradient with `WeightState::with_gradient`, or use `TaylorOrSquared` to fall back to W²"))?;
                zip(g, |a, b| (a * b) * (a * b))
            }
            Self::TaylorOrSquared => match state.gradient {
                Some(g) => zip(g, |a, b| (a * b) * (a * b)),
                None => map(|x| x * x),
            },
        })
    }
}

impl std::str::FromStr for Criterion {
    type Err = CompressError;
    /// Reads a snake_case name (`random` gets seed 0); an unknown one lists the valid names.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::Criterion;
    /// assert_eq!("movmag".parse::<Criterion>().unwrap(), Criterion::Movmag);
    /// assert!("grad".parse::<Criterion>().unwrap_err().to_string().contains("taylor"));
    /// ```
    fn from_str(name: &str) -> Result<Self, CompressError> {
        Self::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| CompressError::UnknownName {
            what: "criterion",
            name: name.to_string(),
            valid: fasterai_vocab::CRITERIA.list(),
        })
    }
}

/// A normalisation of one layer's group scores (applied after the granularity reduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalizer {
    /// Divided by their sum.
    Sum,
    /// Min-max: `(x − min) / (max − min + ε)`.
    Standardization,
    /// Divided by their mean.
    Mean,
    /// Divided by their maximum.
    Max,
    /// z-score: `(x − mean) / (std + ε)`, std with Bessel's correction as torch's `std()`.
    Gaussian,
}

impl Normalizer {
    /// Normalises `scores` in place. A zero sum, mean or maximum (every group already pruned) leaves
    /// the scores at zero instead of dividing by zero.
    pub fn apply(self, scores: &mut [f32]) {
        if scores.is_empty() {
            return;
        }
        let n = scores.len() as f32;
        let sum: f32 = scores.iter().sum();
        let mean = sum / n;
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let min = scores.iter().copied().fold(f32::INFINITY, f32::min);
        let divide = |scores: &mut [f32], d: f32| {
            if d != 0.0 {
                scores.iter_mut().for_each(|x| *x /= d);
            }
        };
        match self {
            Self::Sum => divide(scores, sum),
            Self::Mean => divide(scores, mean),
            Self::Max => divide(scores, max),
            Self::Standardization => scores.iter_mut().for_each(|x| *x = (*x - min) / (max - min + f32::EPSILON)),
            Self::Gaussian => {
                let var = if scores.len() > 1 {
                    scores.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / (n - 1.0)
                } else {
                    0.0
                };
                let sd = var.sqrt() + f32::EPSILON;
                scores.iter_mut().for_each(|x| *x = (*x - mean) / sd);
            }
        }
    }
}

/// A criterion with an optional normaliser: turns a [`WeightState`] into one score per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Criteria {
    /// The per-weight score.
    pub criterion: Criterion,
    /// The normalisation of the group scores, if any.
    pub normalizer: Option<Normalizer>,
}

impl Criteria {
    /// The criterion without normalisation.
    pub fn new(criterion: Criterion) -> Self {
        Self { criterion, normalizer: None }
    }

    /// The same criterion with a normaliser.
    pub fn normalized(self, normalizer: Normalizer) -> Self {
        Self { normalizer: Some(normalizer), ..self }
    }

    /// Per-weight scores after the rescale and the mask (steps 1–3 of the module docs).
    pub fn per_weight(&self, state: &WeightState<'_>) -> Result<Vec<f32>, CompressError> {
        let mut scores = self.criterion.per_weight(state)?;
        rescale(&mut scores);
        if let Some(mask) = state.mask {
            scores.iter_mut().zip(mask).for_each(|(s, m)| *s *= m);
        }
        Ok(scores)
    }

    /// One score per group of `granularity` (all five steps of the module docs).
    pub fn scores(&self, state: &WeightState<'_>, granularity: Granularity) -> Result<GroupScores, CompressError> {
        let per_weight = self.per_weight(state)?;
        let mut groups = granularity.reduce(&per_weight, state.shape)?;
        if let Some(n) = self.normalizer {
            n.apply(&mut groups.values);
        }
        Ok(groups)
    }
}

/// Shifts scores so the smallest is 0 when some are negative, then adds `f32::EPSILON` so every
/// live weight scores above a pruned one (which the mask then sets to 0).
pub fn rescale(scores: &mut [f32]) {
    let min = scores.iter().copied().fold(f32::INFINITY, f32::min);
    let shift = if min < 0.0 { -min } else { 0.0 };
    // Two additions, as torch's two in-place adds: `s + (shift + ε)` would round ε away when shift ≥ 2.
    scores.iter_mut().for_each(|s| *s = (*s + shift) + f32::EPSILON);
}

/// How calibration activations are reduced to one value per input channel (fasterai's `data_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationStat {
    /// `sqrt(mean over samples of Σ_{h,w} x²)`: Wanda's input norm.
    L2Norm,
    /// The largest |x| seen in the channel.
    Max,
    /// The mean |x| over every sample and position of the channel.
    Mean,
}

/// Accumulates a layer's input activations over calibration batches into one value per input channel.
///
/// fasterai sums per-batch maxima and per-batch means and divides by the number of samples, which
/// makes `max` and `mean` depend on the batch size; here `Max` is the maximum over all batches and
/// `Mean` the mean over all values, whatever the batching. `L2Norm` matches fasterai.
///
/// ```
/// use fasterai_runtime::compress::sparsify::{ActivationStat, ActivationStats};
/// let mut stats = ActivationStats::new(ActivationStat::L2Norm);
/// // batch of 2 samples, 2 channels, 1x2 pixels
/// stats.add_batch(&[3.0, 4.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0], &[2, 2, 1, 2]).unwrap();
/// // channel 0: sqrt((9 + 16 + 0 + 0) / 2); channel 1: sqrt((1 + 1 + 1 + 1) / 2)
/// let norm = stats.finish().unwrap();
/// assert!((norm[0] - 12.5f32.sqrt()).abs() < 1e-6 && (norm[1] - 2f32.sqrt()).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationStats {
    stat: ActivationStat,
    acc: Vec<f64>,
    samples: usize,
    values_per_channel: usize,
}

impl ActivationStats {
    /// An empty accumulator.
    pub fn new(stat: ActivationStat) -> Self {
        Self { stat, acc: Vec::new(), samples: 0, values_per_channel: 0 }
    }

    /// Adds a batch of activations of shape `(batch, C)` or `(batch, C, H, W)`, row-major.
    pub fn add_batch(&mut self, values: &[f32], shape: &[usize]) -> Result<(), CompressError> {
        if shape.len() != 2 && shape.len() != 4 {
            return Err(CompressError::ActivationRank { shape: shape.to_vec() });
        }
        check_len("activations", values.len(), shape)?;
        let (batch, channels) = (shape[0], shape[1]);
        let inner: usize = shape[2..].iter().product();
        if self.acc.is_empty() && self.samples == 0 {
            self.acc = vec![0.0; channels];
        } else if self.acc.len() != channels {
            return Err(CompressError::ChannelMismatch { expected: self.acc.len(), found: channels });
        }
        for b in 0..batch {
            for c in 0..channels {
                let start = (b * channels + c) * inner;
                let xs = &values[start..start + inner];
                let a = &mut self.acc[c];
                match self.stat {
                    ActivationStat::L2Norm => *a += xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>(),
                    ActivationStat::Max => *a = xs.iter().fold(*a, |m, &x| m.max(f64::from(x.abs()))),
                    ActivationStat::Mean => *a += xs.iter().map(|&x| f64::from(x.abs())).sum::<f64>(),
                }
            }
        }
        self.samples += batch;
        self.values_per_channel += batch * inner;
        Ok(())
    }

    /// One value per input channel, ready for [`WeightState::with_activation_norm`].
    pub fn finish(&self) -> Result<Vec<f32>, CompressError> {
        if self.samples == 0 {
            return Err(CompressError::NoCalibrationData);
        }
        Ok(self
            .acc
            .iter()
            .map(|&a| match self.stat {
                ActivationStat::L2Norm => (a / self.samples as f64).sqrt() as f32,
                ActivationStat::Max => a as f32,
                ActivationStat::Mean => (a / self.values_per_channel.max(1) as f64) as f32,
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "criteria_tests.rs"]
mod tests;
