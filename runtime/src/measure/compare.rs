//! A row of a report against a baseline row: how many times smaller and faster, accuracy change.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Points, ReportRow, Times};

/// How a compressed model compares with its baseline.
///
/// Ratios are "baseline ÷ this", so above 1 means better: `smaller = 3.0` is a file three times
/// smaller, `faster = 2.0` half the latency. A ratio is `None` when this row's figure is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Baseline parameters ÷ these parameters.
    pub fewer_params: Option<Times>,
    /// Baseline size on disk ÷ this size.
    pub smaller: Option<Times>,
    /// Baseline p50 latency ÷ this p50 latency.
    pub faster: Option<Times>,
    /// This accuracy minus the baseline's, in percentage points.
    pub accuracy_change: Points,
}

impl Comparison {
    /// Compares `row` with `baseline`.
    ///
    /// ```
    /// use fasterai_runtime::measure::{Accuracy, Bytes, Comparison, Millis, Points, ReportRow, Times};
    /// let base = ReportRow::new("baseline", 1000, Bytes(4000), Millis(2.0), Accuracy::from_percent(95.0)?);
    /// let small = ReportRow::new("pruned", 250, Bytes(1000), Millis(0.5), Accuracy::from_percent(94.5)?);
    /// let c = Comparison::of(&small, &base);
    /// assert_eq!((c.smaller, c.faster), (Some(Times(4.0)), Some(Times(4.0))));
    /// assert!((c.accuracy_change.0 + 0.5).abs() < 1e-9);
    /// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
    /// ```
    pub fn of(row: &ReportRow, baseline: &ReportRow) -> Self {
        Self {
            fewer_params: ratio(baseline.params as f64, row.params as f64),
            smaller: ratio(baseline.size.0 as f64, row.size.0 as f64),
            faster: ratio(baseline.latency_p50.0, row.latency_p50.0),
            accuracy_change: Points(row.accuracy.as_percent() - baseline.accuracy.as_percent()),
        }
    }
}

pub(super) fn ratio(baseline: f64, this: f64) -> Option<Times> {
    (this > 0.0 && baseline.is_finite() && this.is_finite()).then(|| Times(baseline / this))
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |t: Option<Times>| t.map_or_else(|| "n/a".to_string(), |t| t.to_string());
        write!(
            f,
            "{} fewer parameters, {} smaller, {} faster, accuracy {}",
            show(self.fewer_params),
            show(self.smaller),
            show(self.faster),
            self.accuracy_change
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{Accuracy, Bytes, Millis};

    fn row(params: usize, size: u64, ms: f64, pct: f64) -> ReportRow {
        ReportRow::new("r", params, Bytes(size), Millis(ms), Accuracy::from_percent(pct).unwrap())
    }

    #[test]
    fn ratios_are_baseline_over_row_and_points_are_a_difference() {
        let base = row(871_018, 3_484_216, 1.36, 93.2);
        let c = Comparison::of(&row(435_509, 871_054, 0.34, 93.7), &base);
        let close = |t: Option<Times>, v: f64| (t.unwrap().0 - v).abs() < 1e-9;
        assert!(close(c.fewer_params, 2.0));
        assert!(close(c.smaller, 3_484_216.0 / 871_054.0));
        assert!(close(c.faster, 4.0));
        assert!((c.accuracy_change.0 - 0.5).abs() < 1e-9);
        let same = Comparison::of(&base, &base);
        assert_eq!(
            (same.smaller, same.faster, same.accuracy_change),
            (Some(Times(1.0)), Some(Times(1.0)), Points(0.0))
        );
    }

    #[test]
    fn zero_figures_give_no_ratio() {
        let c = Comparison::of(&row(0, 0, 0.0, 50.0), &row(10, 10, 1.0, 50.0));
        assert_eq!((c.fewer_params, c.smaller, c.faster), (None, None, None));
        assert!(c.to_string().contains("n/a"));
    }
}
