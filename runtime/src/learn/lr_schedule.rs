//! Learning-rate and momentum schedules: constant, and fastai's one-cycle policy.
//!
//! fastai's `fit_one_cycle` schedules the learning rate with `combined_cos(pct_start, lr_max/div,
//! lr_max, lr_max/div_final)` and the momentum with `combined_cos(pct_start, 0.95, 0.85, 0.95)`,
//! where `div = 25`, `div_final = 1e5` and `pct_start = 0.25`. The functions below follow those
//! definitions (fastai `callback/schedule.py`): a cosine from `start` to `middle` over the first
//! `pct_start` of training, then a cosine from `middle` to `end` over the rest. The position is
//! fastai's `pct_train`, the number of optimizer steps already taken over the total, so the first
//! step uses the start values and the end value is approached but not reached by the last step.

use super::{Fraction, LearnError};

/// fastai's `sched_cos`: a half cosine from `start` (at `pos = 0`) to `end` (at `pos = 1`).
///
/// ```
/// use fasterai_runtime::learn::lr_schedule::sched_cos;
/// assert_eq!(sched_cos(1.0, 3.0, 0.0), 1.0);
/// assert!((sched_cos(1.0, 3.0, 0.5) - 2.0).abs() < 1e-12);
/// assert_eq!(sched_cos(1.0, 3.0, 1.0), 3.0);
/// ```
pub fn sched_cos(start: f64, end: f64, pos: f64) -> f64 {
    start + (1.0 + (std::f64::consts::PI * (1.0 - pos)).cos()) * (end - start) / 2.0
}

/// fastai's `combined_cos`: [`sched_cos`] from `start` to `middle` over `[0, pct_start)`, then from
/// `middle` to `end` over `[pct_start, 1]`.
pub fn combined_cos(pct_start: Fraction, start: f64, middle: f64, end: f64, pos: Fraction) -> f64 {
    let (split, pos) = (pct_start.get(), pos.get());
    if pos < split {
        sched_cos(start, middle, pos / split)
    } else if split >= 1.0 {
        middle
    } else {
        sched_cos(middle, end, (pos - split) / (1.0 - split))
    }
}

/// fastai's one-cycle policy for one peak learning rate.
///
/// ```
/// use fasterai_runtime::learn::{Fraction, OneCycle};
/// let one_cycle = OneCycle::new(1e-2);
/// assert!((one_cycle.lr(Fraction::ZERO) - 1e-2 / 25.0).abs() < 1e-15);
/// assert!((one_cycle.lr(Fraction::of(1, 4)) - 1e-2).abs() < 1e-15);
/// assert!((one_cycle.momentum(Fraction::of(1, 4)) - 0.85).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OneCycle {
    /// The peak learning rate, reached at `pct_start`.
    pub lr_max: f64,
    /// The first learning rate is `lr_max / div` (fastai: 25).
    pub div: f64,
    /// The last learning rate tends to `lr_max / div_final` (fastai: 1e5).
    pub div_final: f64,
    /// Share of training spent warming up (fastai: 0.25).
    pub pct_start: Fraction,
    /// Momentum (Adam's β1) at the start, at `pct_start` and at the end (fastai: 0.95, 0.85, 0.95).
    pub moms: [f64; 3],
}

impl OneCycle {
    /// fastai's defaults around `lr_max`.
    pub fn new(lr_max: f64) -> Self {
        Self { lr_max, div: 25.0, div_final: 1e5, pct_start: Fraction::of(1, 4), moms: [0.95, 0.85, 0.95] }
    }

    /// The learning rate after `pos` of training.
    pub fn lr(&self, pos: Fraction) -> f64 {
        combined_cos(self.pct_start, self.lr_max / self.div, self.lr_max, self.lr_max / self.div_final, pos)
    }

    /// The momentum after `pos` of training.
    pub fn momentum(&self, pos: Fraction) -> f64 {
        let [start, middle, end] = self.moms;
        combined_cos(self.pct_start, start, middle, end, pos)
    }
}

/// How the learning rate (and possibly the momentum) move during one fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LrSchedule {
    /// The same learning rate throughout; the optimizer keeps its configured momentum.
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// fastai's one-cycle policy, which also cycles the momentum.
    OneCycle(OneCycle),
}

/// The hyper-parameters of one optimizer step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Learning rate.
    pub lr: f64,
    /// Momentum (Adam's β1, SGD's momentum), or `None` to keep the optimizer's configured value.
    pub momentum: Option<f64>,
}

impl LrSchedule {
    /// The hyper-parameters after `pos` of training.
    pub fn at(&self, pos: Fraction) -> Hyper {
        match self {
            Self::Constant { lr } => Hyper { lr: *lr, momentum: None },
            Self::OneCycle(c) => Hyper { lr: c.lr(pos), momentum: Some(c.momentum(pos)) },
        }
    }

    /// Checks that every learning rate of the schedule is a finite number above 0 and every
    /// momentum lies in `[0, 1)`, looking at the start, the peak and the end.
    ///
    /// ```
    /// use fasterai_runtime::learn::{LrSchedule, OneCycle};
    /// assert!(LrSchedule::OneCycle(OneCycle::new(1e-3)).validate().is_ok());
    /// assert!(LrSchedule::Constant { lr: -1e-3 }.validate().is_err());
    /// assert!(LrSchedule::OneCycle(OneCycle { div: 0.0, ..OneCycle::new(1e-3) }).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), LearnError> {
        let peak = match self {
            Self::Constant { .. } => Fraction::ZERO,
            Self::OneCycle(c) => c.pct_start,
        };
        for pos in [Fraction::ZERO, peak, Fraction::ONE] {
            let Hyper { lr, momentum } = self.at(pos);
            if !(lr.is_finite() && lr > 0.0) {
                return Err(LearnError::InvalidLearningRate { lr });
            }
            if let Some(momentum) = momentum.filter(|m| !(0.0..1.0).contains(m)) {
                return Err(LearnError::InvalidMomentum { momentum });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs()
    }

    /// fastai 2.7: `combined_cos(0.25, 1e-2/25, 1e-2, 1e-2/1e5)` and `combined_cos(0.25, .95, .85, .95)`.
    /// Expected values by hand from `sched_cos(s, e, p) = s + (1 + cos(pi (1 - p))) (e - s) / 2`:
    /// - 0%:   lr = 1e-2/25 = 4e-4; mom = 0.95
    /// - 12.5%: warm-up half way, cos(pi/2) = 0: lr = 4e-4 + (1e-2 - 4e-4)/2 = 5.2e-3; mom = 0.90
    /// - 25%:  lr = lr_max = 1e-2; mom = 0.85
    /// - 50%:  annealing at p = (0.5 - 0.25)/0.75 = 1/3, cos(2pi/3) = -1/2:
    ///   lr = 1e-2 + 0.5 (1e-7 - 1e-2)/2 = 7.500025e-3; mom = 0.85 + 0.5 (0.1)/2 = 0.875
    /// - 100%: lr = 1e-2/1e5 = 1e-7; mom = 0.95
    #[test]
    fn one_cycle_matches_fastai_at_key_points() {
        let sched = OneCycle::new(1e-2);
        for (pct, lr, mom, why) in [
            (Fraction::ZERO, 4e-4, 0.95, "start: lr_max/div, high momentum"),
            (Fraction::of(1, 8), 5.2e-3, 0.90, "middle of the warm-up"),
            (Fraction::of(1, 4), 1e-2, 0.85, "peak at pct_start, low momentum"),
            (Fraction::of(1, 2), 7.500025e-3, 0.875, "a third into the annealing"),
            (Fraction::ONE, 1e-7, 0.95, "end: lr_max/div_final"),
        ] {
            assert!(close(sched.lr(pct), lr), "lr at {pct}: {} vs {lr} ({why})", sched.lr(pct));
            assert!(close(sched.momentum(pct), mom), "mom at {pct}: {} vs {mom} ({why})", sched.momentum(pct));
        }
    }

    #[test]
    fn constant_schedule_keeps_the_optimizer_momentum() {
        let hyper = LrSchedule::Constant { lr: 3e-3 }.at(Fraction::of(1, 2));
        assert_eq!(hyper, Hyper { lr: 3e-3, momentum: None });
    }

    #[test]
    fn warm_up_rises_and_annealing_falls_monotonically() {
        let sched = OneCycle::new(1.0);
        let lrs: Vec<f64> = (0..=100).map(|i| sched.lr(Fraction::of(i, 100))).collect();
        assert!(lrs[..=25].windows(2).all(|w| w[0] < w[1]));
        assert!(lrs[25..].windows(2).all(|w| w[0] > w[1]));
    }
}
