//! Schedules: how far towards its target a compression is at a given point of training.
//!
//! A [`SparsitySchedule`] maps the fraction of training done (`pct_train` in `[0, 1]`) to a *progress*
//! between `start_val` and `end_val`; the caller multiplies its target (a sparsity, a distillation
//! weight) by that progress. Before `start_pct` the progress is `start_val`; from `end_pct` on it is the
//! curve's value at 1; in between the curve is evaluated at `(pct − start_pct) / (end_pct − start_pct)`.
//!
//! ```
//! use fasterai_runtime::compress::sparsify::SparsitySchedule;
//! use fasterai_runtime::units::Sparsity;
//!
//! let target = Sparsity::from_percent(50.0).unwrap();
//! let cos = SparsitySchedule::cos();
//! assert_eq!(cos.progress(0.0), 0.0);
//! assert!((cos.progress(0.5) - 0.5).abs() < 1e-12);
//! assert_eq!(target.scaled(cos.progress(1.0)), target);
//! ```

use std::f64::consts::PI;
use std::num::NonZeroUsize;

use crate::compress::CompressError;
use crate::units::Ratio;

/// The shape of a schedule between its start and its end, as a function of `p ∈ [0, 1]`
/// from the start value `s` to the end value `e`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Curve {
    /// `e` at once.
    OneShot,
    /// `n_steps` equal jumps: `s + (e − s)/n · ⌈p·n⌉`.
    Iterative {
        /// Number of jumps.
        n_steps: NonZeroUsize,
    },
    /// Zhu & Gupta's automated gradual pruning: `e + (s − e)(1 − p)³`.
    Agp,
    /// A logistic ramp: `s + (e − s)(1 + e^{β−α}) / (1 + e^{β−α·p})`.
    OneCycle {
        /// Steepness (14 by default).
        alpha: f64,
        /// Offset (6 by default).
        beta: f64,
    },
    /// Half a cosine: `s + (1 + cos(π(1 − p)))(e − s)/2`.
    Cos,
    /// A straight line: `s + p(e − s)`.
    Lin,
    /// Dense-sparse-dense: a cosine up to `e` at `p = 0.5`, then back down to `s` at `p = 1`.
    Dsd,
}

impl Curve {
    /// The curve's value at `p` (not clamped: callers pass `p ∈ [0, 1]`).
    pub fn eval(self, s: f64, e: f64, p: f64) -> f64 {
        match self {
            Curve::OneShot => e,
            Curve::Iterative { n_steps } => {
                let n = n_steps.get() as f64;
                s + (e - s) / n * (p * n).ceil()
            }
            Curve::Agp => e + (s - e) * (1.0 - p).powi(3),
            Curve::OneCycle { alpha, beta } => {
                s + (e - s) * (1.0 + (beta - alpha).exp()) / (1.0 + (beta - alpha * p).exp())
            }
            Curve::Cos => s + (1.0 + (PI * (1.0 - p)).cos()) * (e - s) / 2.0,
            Curve::Lin => s + p * (e - s),
            Curve::Dsd if p < 0.5 => s + (1.0 + (PI * (1.0 - 2.0 * p)).cos()) * (e - s) / 2.0,
            Curve::Dsd => e + (1.0 - (PI * (1.0 - 2.0 * p)).cos()) * (s - e) / 2.0,
        }
    }
}

/// One curve over one window of training.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    curve: Curve,
    start_pct: Ratio,
    end_pct: Ratio,
    start_val: Ratio,
    end_val: Ratio,
}

impl Segment {
    fn progress(&self, pct_train: f64) -> f64 {
        let (sp, ep) = (self.start_pct.fraction(), self.end_pct.fraction());
        let (sv, ev) = (self.start_val.fraction(), self.end_val.fraction());
        if pct_train < sp {
            sv
        } else if pct_train >= ep {
            self.curve.eval(sv, ev, 1.0)
        } else {
            self.curve.eval(sv, ev, (pct_train - sp) / (ep - sp))
        }
    }
}

/// A progress schedule: one curve over a window of training, or several chained one after the other.
///
/// Built with [`SparsitySchedule::one_shot`], [`SparsitySchedule::iterative`], [`SparsitySchedule::agp`], [`SparsitySchedule::one_cycle`],
/// [`SparsitySchedule::cos`], [`SparsitySchedule::lin`] or [`SparsitySchedule::dsd`], adjusted with [`SparsitySchedule::with_window`] and
/// [`SparsitySchedule::with_values`], combined with [`SparsitySchedule::chain`].
#[derive(Debug, Clone, PartialEq)]
pub struct SparsitySchedule {
    /// Never empty; ordered by start and not overlapping.
    segments: Vec<Segment>,
}

fn fraction(what: &'static str, value: f64) -> Result<Ratio, CompressError> {
    Ratio::from_fraction(value).map_err(|_| CompressError::ScheduleOutOfRange { what, value })
}

impl SparsitySchedule {
    fn single(curve: Curve, start_pct: f64) -> Self {
        // The literals below are valid fractions.
        let r = |v| Ratio::from_fraction(v).unwrap_or(Ratio::ZERO);
        Self {
            segments: vec![Segment {
                curve,
                start_pct: r(start_pct),
                end_pct: Ratio::FULL,
                start_val: Ratio::ZERO,
                end_val: Ratio::FULL,
            }],
        }
    }

    /// Jump to the end value at half of training (fasterai's `one_shot`, `start_pct = 0.5`).
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// let s = SparsitySchedule::one_shot();
    /// assert_eq!((s.progress(0.49), s.progress(0.5)), (0.0, 1.0));
    /// ```
    pub fn one_shot() -> Self {
        Self::single(Curve::OneShot, 0.5)
    }

    /// `n_steps` equal jumps from 20% of training on (fasterai's `iterative` uses 3).
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// let s = SparsitySchedule::iterative(4).unwrap();
    /// assert_eq!(s.progress(0.21), 0.25);
    /// assert!(SparsitySchedule::iterative(0).is_err());
    /// ```
    pub fn iterative(n_steps: usize) -> Result<Self, CompressError> {
        let n_steps = NonZeroUsize::new(n_steps).ok_or(CompressError::ZeroSteps)?;
        Ok(Self::single(Curve::Iterative { n_steps }, 0.2))
    }

    /// Automated gradual pruning (cubic), from 20% of training on.
    pub fn agp() -> Self {
        Self::single(Curve::Agp, 0.2)
    }

    /// A logistic ramp with fasterai's steepness α = 14 and offset β = 6.
    pub fn one_cycle() -> Self {
        Self::one_cycle_with(14.0, 6.0)
    }

    /// A logistic ramp with a chosen steepness `alpha` and offset `beta`.
    pub fn one_cycle_with(alpha: f64, beta: f64) -> Self {
        Self::single(Curve::OneCycle { alpha, beta }, 0.0)
    }

    /// Half a cosine over the whole of training (fastai's `sched_cos`).
    pub fn cos() -> Self {
        Self::single(Curve::Cos, 0.0)
    }

    /// A straight line over the whole of training (fastai's `sched_lin`).
    pub fn lin() -> Self {
        Self::single(Curve::Lin, 0.0)
    }

    /// Dense-sparse-dense: up to the end value at mid-window, then back down to the start value, so
    /// pruned weights grow back (at zero) in the second half.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// let s = SparsitySchedule::dsd();
    /// assert_eq!(s.progress(0.5), 1.0);
    /// assert!(s.progress(0.75) < s.progress(0.5));
    /// ```
    pub fn dsd() -> Self {
        Self::single(Curve::Dsd, 0.0)
    }

    /// The names [`SparsitySchedule::by_name`] reads (the list `compress!` checks too, from `fasterai-vocab`).
    pub const NAMES: &'static [&'static str] = fasterai_vocab::SCHEDULES.names;

    /// A schedule from its fasterai name, with fasterai's defaults (`iterative` takes 3 steps).
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// assert_eq!(SparsitySchedule::by_name("agp").unwrap(), SparsitySchedule::agp());
    /// assert!(SparsitySchedule::by_name("cosine").unwrap_err().to_string().contains("cos, lin"));
    /// ```
    pub fn by_name(name: &str) -> Result<Self, CompressError> {
        Ok(match name {
            "one_shot" => Self::one_shot(),
            "iterative" => Self::iterative(3)?,
            "agp" => Self::agp(),
            "one_cycle" => Self::one_cycle(),
            "cos" => Self::cos(),
            "lin" => Self::lin(),
            "dsd" => Self::dsd(),
            _ => {
                return Err(CompressError::UnknownName {
                    what: "schedule",
                    name: name.to_string(),
                    valid: fasterai_vocab::SCHEDULES.list(),
                })
            }
        })
    }

    /// Any curve over the whole of training, from 0 to 1.
    pub fn from_curve(curve: Curve) -> Self {
        Self::single(curve, 0.0)
    }

    /// The same curve over the window `[start_pct, end_pct]` of training (fractions).
    ///
    /// Errors if a bound is outside `[0, 1]`, if `start_pct > end_pct`, or on a chain (set each
    /// segment's window before chaining).
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// let s = SparsitySchedule::lin().with_window(0.2, 0.6).unwrap();
    /// assert!((s.progress(0.4) - 0.5).abs() < 1e-12);
    /// assert!(SparsitySchedule::lin().with_window(0.6, 0.2).is_err());
    /// ```
    pub fn with_window(mut self, start_pct: f64, end_pct: f64) -> Result<Self, CompressError> {
        let start = fraction("start_pct", start_pct)?;
        let end = fraction("end_pct", end_pct)?;
        if start_pct > end_pct {
            return Err(CompressError::ScheduleReversed { start_pct, end_pct });
        }
        let seg = self.only_segment("with_window")?;
        seg.start_pct = start;
        seg.end_pct = end;
        Ok(self)
    }

    /// The same curve between `start_val` and `end_val` (fractions of the caller's target; a
    /// decreasing schedule has `start_val > end_val`).
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// let s = SparsitySchedule::lin().with_values(1.0, 0.5).unwrap();
    /// assert_eq!(s.progress(1.0), 0.5);
    /// assert!(SparsitySchedule::lin().with_values(0.0, 1.5).is_err());
    /// ```
    pub fn with_values(mut self, start_val: f64, end_val: f64) -> Result<Self, CompressError> {
        let start = fraction("start_val", start_val)?;
        let end = fraction("end_val", end_val)?;
        let seg = self.only_segment("with_values")?;
        seg.start_val = start;
        seg.end_val = end;
        Ok(self)
    }

    fn only_segment(&mut self, method: &str) -> Result<&mut Segment, CompressError> {
        match self.segments.as_mut_slice() {
            [seg] => Ok(seg),
            _ => Err(CompressError::BadChain {
                reason: format!("`{method}` applies to a single schedule; call it on each segment before chaining"),
            }),
        }
    }

    /// Schedules one after the other: each applies over its own window; between and after the windows,
    /// the last segment reached holds its final value; before the first window the first start value
    /// holds. Segments must be given in training order and must not overlap.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// // Ramp to 50% of the target in the first quarter, hold, then ramp to 100% in the last quarter.
    /// let s = SparsitySchedule::chain(vec![
    ///     SparsitySchedule::lin().with_window(0.0, 0.25)?.with_values(0.0, 0.5)?,
    ///     SparsitySchedule::lin().with_window(0.75, 1.0)?.with_values(0.5, 1.0)?,
    /// ])?;
    /// assert_eq!(s.progress(0.5), 0.5);
    /// assert_eq!(s.progress(0.875), 0.75);
    /// # Ok::<(), fasterai_runtime::compress::CompressError>(())
    /// ```
    pub fn chain(schedules: Vec<SparsitySchedule>) -> Result<Self, CompressError> {
        let segments: Vec<Segment> = schedules.into_iter().flat_map(|s| s.segments).collect();
        if segments.is_empty() {
            return Err(CompressError::BadChain { reason: "no schedule was given".into() });
        }
        for (i, pair) in segments.windows(2).enumerate() {
            let (end, start) = (pair[0].end_pct.fraction(), pair[1].start_pct.fraction());
            if start < end {
                return Err(CompressError::BadChain {
                    reason: format!(
                        "segment {} starts at {start} of training, before segment {} ends at {end}; give them in order without overlap",
                        i + 1,
                        i
                    ),
                });
            }
        }
        Ok(Self { segments })
    }

    /// The progress at `pct_train` (the fraction of training done), between the start and end values.
    pub fn progress(&self, pct_train: f64) -> f64 {
        let reached = self.segments.iter().rev().find(|s| pct_train >= s.start_pct.fraction());
        match reached {
            Some(seg) => seg.progress(pct_train),
            None => self.segments[0].start_val.fraction(),
        }
    }

    /// Where the first segment's window starts (a fraction of training): before it the progress
    /// holds the start value, so a compression following this schedule starts there.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::SparsitySchedule;
    /// assert_eq!(SparsitySchedule::agp().start_pct(), 0.2);
    /// assert_eq!(SparsitySchedule::cos().start_pct(), 0.0);
    /// ```
    pub fn start_pct(&self) -> f64 {
        self.segments[0].start_pct.fraction()
    }

    /// The progress before any training: where a [`ProgressTracker`] starts.
    pub fn initial_value(&self) -> f64 {
        self.segments[0].start_val.fraction()
    }
}

/// Remembers the last progress acted upon, so a callback re-sparsifies only when the schedule moved
/// (fasterai's `SparsitySchedule.changed` / `after_step`).
///
/// ```
/// use fasterai_runtime::compress::sparsify::{ProgressTracker, SparsitySchedule};
/// let mut t = ProgressTracker::new(SparsitySchedule::iterative(2).unwrap().with_window(0.0, 1.0).unwrap());
/// assert_eq!(t.advance(0.0), None); // still at the start value
/// assert_eq!(t.advance(0.1), Some(0.5)); // first jump: act on it
/// assert_eq!(t.advance(0.3), None); // same step: nothing to do
/// assert_eq!(t.advance(0.6), Some(1.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressTracker {
    schedule: SparsitySchedule,
    applied: f64,
}

impl ProgressTracker {
    /// A tracker at the schedule's initial value.
    pub fn new(schedule: SparsitySchedule) -> Self {
        let applied = schedule.initial_value();
        Self { schedule, applied }
    }

    /// The progress at `pct_train` if it differs from the last one returned (which it then becomes),
    /// `None` if nothing changed.
    pub fn advance(&mut self, pct_train: f64) -> Option<f64> {
        let now = self.schedule.progress(pct_train);
        (now != self.applied).then(|| {
            self.applied = now;
            now
        })
    }

    /// The last progress acted upon.
    pub fn applied(&self) -> f64 {
        self.applied
    }

    /// Back to the schedule's initial value (a new training run).
    pub fn reset(&mut self) {
        self.applied = self.schedule.initial_value();
    }

    /// The schedule being tracked.
    pub fn schedule(&self) -> &SparsitySchedule {
        &self.schedule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from this Python script (fasterai's formulas and `SparsitySchedule.progress`):
    /// ```text
    /// import math
    /// def one_shot(s,e,p): return e
    /// def iterative(s,e,p,n=3): return s+(e-s)/n*math.ceil(p*n)
    /// def agp(s,e,p): return e+(s-e)*(1-p)**3
    /// def one_cycle(s,e,p,a=14,b=6): return s+(e-s)*(1+math.exp(-a+b))/(1+math.exp(-a*p+b))
    /// def cos(s,e,p): return s+(1+math.cos(math.pi*(1-p)))*(e-s)/2
    /// def lin(s,e,p): return s+p*(e-s)
    /// def dsd(s,e,p):
    ///     if p<0.5: return s+(1+math.cos(math.pi*(1-2*p)))*(e-s)/2
    ///     return e+(1-math.cos(math.pi*(1-2*p)))*(s-e)/2
    /// def progress(f,sp,ep,sv,ev,x):
    ///     if x<sp: return sv
    ///     if x>=ep: return f(sv,ev,1.0)
    ///     return f(sv,ev,(x-sp)/(ep-sp))
    /// for name,f,sp in [("one_shot",one_shot,0.5),("iterative",iterative,0.2),("agp",agp,0.2),
    ///                   ("one_cycle",one_cycle,0),("cos",cos,0),("lin",lin,0),("dsd",dsd,0)]:
    ///     print(name, [(x, repr(progress(f,sp,1.0,0.0,1.0,x))) for x in [0,0.2,0.25,0.5,0.75,1.0]])
    /// ```
    const POINTS: [f64; 6] = [0.0, 0.2, 0.25, 0.5, 0.75, 1.0];

    fn check(schedule: &SparsitySchedule, expected: [f64; 6]) {
        for (pct, want) in POINTS.into_iter().zip(expected) {
            let got = schedule.progress(pct);
            assert!((got - want).abs() < 1e-12, "at {pct}: got {got}, want {want}");
        }
    }

    #[test]
    fn one_shot_jumps_at_half() {
        check(&SparsitySchedule::one_shot(), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(SparsitySchedule::one_shot().progress(0.4999), 0.0);
    }

    #[test]
    fn iterative_takes_three_steps_after_a_fifth() {
        check(&SparsitySchedule::iterative(3).unwrap(), [0.0, 0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 1.0]);
        // n_steps = 5 over the whole run: python gives 0.2 at 0.1 and 0.2, 0.4 at 0.21, 1.0 at 0.99.
        let five = SparsitySchedule::iterative(5).unwrap().with_window(0.0, 1.0).unwrap();
        for (pct, want) in [(0.1, 0.2), (0.2, 0.2), (0.21, 0.4), (0.99, 1.0)] {
            assert!((five.progress(pct) - want).abs() < 1e-12, "at {pct}");
        }
    }

    #[test]
    fn agp_is_cubic_after_a_fifth() {
        check(&SparsitySchedule::agp(), [0.0, 0.0, 0.176025390625, 0.755859375, 0.969482421875, 1.0]);
    }

    #[test]
    fn one_cycle_is_logistic() {
        let want = [
            0.0024734526292967116,
            0.03917886143305747,
            0.07588362760566138,
            0.7313038214619427,
            0.9893448342886618,
            1.0,
        ];
        check(&SparsitySchedule::one_cycle(), want);
    }

    #[test]
    fn cos_and_lin() {
        check(&SparsitySchedule::cos(), [0.0, 0.09549150281252633, 0.14644660940672627, 0.5, 0.8535533905932737, 1.0]);
        check(&SparsitySchedule::lin(), [0.0, 0.2, 0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn dsd_regrows_after_the_middle() {
        check(&SparsitySchedule::dsd(), [0.0, 0.34549150281252633, 0.5, 1.0, 0.5, 0.0]);
        // python: dsd(0,1,0.4) = dsd(0,1,0.6) = 0.9045084971874737, dsd(0,1,0.9) = 0.09549150281252627
        let s = SparsitySchedule::dsd();
        assert!((s.progress(0.4) - 0.9045084971874737).abs() < 1e-12);
        assert!((s.progress(0.6) - 0.9045084971874737).abs() < 1e-12);
        assert!((s.progress(0.9) - 0.09549150281252627).abs() < 1e-12);
        // The target falls all the way through the second half.
        let second_half: Vec<f64> = (5..=10).map(|i| s.progress(i as f64 / 10.0)).collect();
        assert!(second_half.windows(2).all(|w| w[1] < w[0]), "{second_half:?}");
    }

    #[test]
    fn window_and_values_are_honoured_at_their_boundaries() {
        // python: [(x, progress(cos,0.2,0.6,0.1,0.9,x)) for x in [0,0.2,0.3,0.4,0.6,0.8]]
        let s = SparsitySchedule::cos().with_window(0.2, 0.6).unwrap().with_values(0.1, 0.9).unwrap();
        let want =
            [(0.0, 0.1), (0.2, 0.1), (0.3, 0.21715728752538102), (0.4, 0.5000000000000002), (0.6, 0.9), (0.8, 0.9)];
        for (pct, v) in want {
            assert!((s.progress(pct) - v).abs() < 1e-12, "at {pct}: {}", s.progress(pct));
        }
    }

    #[test]
    fn invalid_schedules_are_typed_errors() {
        assert_eq!(SparsitySchedule::iterative(0), Err(CompressError::ZeroSteps));
        assert_eq!(
            SparsitySchedule::cos().with_window(0.7, 0.3),
            Err(CompressError::ScheduleReversed { start_pct: 0.7, end_pct: 0.3 })
        );
        assert_eq!(
            SparsitySchedule::cos().with_window(-0.1, 0.3),
            Err(CompressError::ScheduleOutOfRange { what: "start_pct", value: -0.1 })
        );
        assert_eq!(
            SparsitySchedule::cos().with_values(0.0, 50.0),
            Err(CompressError::ScheduleOutOfRange { what: "end_val", value: 50.0 })
        );
        assert!(matches!(SparsitySchedule::chain(vec![]), Err(CompressError::BadChain { .. })));
        let overlapping = SparsitySchedule::chain(vec![
            SparsitySchedule::lin().with_window(0.0, 0.6).unwrap(),
            SparsitySchedule::lin().with_window(0.5, 1.0).unwrap(),
        ]);
        assert!(matches!(overlapping, Err(CompressError::BadChain { .. })));
        let chained = SparsitySchedule::chain(vec![SparsitySchedule::lin(), SparsitySchedule::cos()]);
        assert!(chained.is_err(), "two full-run segments overlap");
    }

    #[test]
    fn chain_applies_each_segment_then_holds_the_last_reached() {
        let s = SparsitySchedule::chain(vec![
            SparsitySchedule::lin().with_window(0.1, 0.3).unwrap().with_values(0.2, 0.6).unwrap(),
            SparsitySchedule::one_shot().with_window(0.5, 0.5).unwrap().with_values(0.6, 0.8).unwrap(),
            SparsitySchedule::lin().with_window(0.7, 0.9).unwrap().with_values(0.8, 1.0).unwrap(),
        ])
        .unwrap();
        let want = [
            (0.0, 0.2), // before the first window: its start value
            (0.2, 0.4), // halfway along the first line
            (0.4, 0.6), // between windows: the first one's end value
            (0.5, 0.8), // the one-shot jump
            (0.6, 0.8), // held
            (0.8, 0.9), // halfway along the last line
            (1.0, 1.0), // after the last window
        ];
        for (pct, v) in want {
            assert!((s.progress(pct) - v).abs() < 1e-12, "at {pct}: {}", s.progress(pct));
        }
        assert!(s.clone().with_window(0.0, 1.0).is_err(), "a chain has no single window");
    }

    #[test]
    fn every_name_builds_its_schedule() {
        let built: Vec<SparsitySchedule> = SparsitySchedule::NAMES.iter().map(|n| SparsitySchedule::by_name(n).unwrap()).collect();
        let want = [
            SparsitySchedule::one_shot(),
            SparsitySchedule::iterative(3).unwrap(),
            SparsitySchedule::agp(),
            SparsitySchedule::one_cycle(),
            SparsitySchedule::cos(),
            SparsitySchedule::lin(),
            SparsitySchedule::dsd(),
        ];
        assert_eq!(built, want);
        assert!(matches!(SparsitySchedule::by_name("linear"), Err(CompressError::UnknownName { .. })));
    }

    #[test]
    fn tracker_reports_changes_once() {
        let mut t = ProgressTracker::new(SparsitySchedule::one_shot());
        let seen: Vec<Option<f64>> = [0.0, 0.25, 0.5, 0.75, 1.0].into_iter().map(|p| t.advance(p)).collect();
        assert_eq!(seen, [None, None, Some(1.0), None, None]);
        t.reset();
        assert_eq!(t.applied(), 0.0);
        assert_eq!(t.advance(0.9), Some(1.0));
        // dsd goes back down: every move is a change.
        let mut d = ProgressTracker::new(SparsitySchedule::dsd());
        assert_eq!(d.advance(0.5), Some(1.0));
        assert_eq!(d.advance(1.0), Some(0.0));
    }
}
