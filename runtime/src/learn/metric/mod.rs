//! Validation metrics: a narrow trait, accumulated batch by batch.

mod accuracy;

pub use accuracy::AccuracyMetric;

/// A number computed over the whole validation set from the model's logits.
///
/// The learner calls [`Metric::reset`], then [`Metric::accumulate`] once per validation batch,
/// then reads [`Metric::value`]. Implement it to add a column to the epoch table.
///
/// ```
/// use fasterai_runtime::learn::Metric;
/// /// Share of samples predicted as class 0.
/// #[derive(Default)]
/// struct ZeroRate { zeros: usize, seen: usize }
/// impl Metric for ZeroRate {
///     fn name(&self) -> &str { "zero_rate" }
///     fn reset(&mut self) { *self = Self::default(); }
///     fn accumulate(&mut self, logits: &[f32], labels: &[usize]) {
///         let k = logits.len() / labels.len().max(1);
///         for row in logits.chunks(k) {
///             let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
///             self.zeros += usize::from(best == 0);
///             self.seen += 1;
///         }
///     }
///     fn value(&self) -> f64 { self.zeros as f64 / self.seen.max(1) as f64 }
/// }
/// let mut m = ZeroRate::default();
/// m.accumulate(&[1.0, 0.0, 0.0, 1.0], &[0, 0]);
/// assert_eq!(m.value(), 0.5);
/// ```
pub trait Metric {
    /// The column name in the epoch table.
    fn name(&self) -> &str;
    /// Forgets everything accumulated.
    fn reset(&mut self);
    /// Adds one batch: `logits` row-major, one row per label.
    fn accumulate(&mut self, logits: &[f32], labels: &[usize]);
    /// The metric over everything accumulated since the last reset.
    fn value(&self) -> f64;
}

/// One metric's value, named, as recorded in the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricValue {
    /// The metric's name.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// Index of the largest value of each row of `logits` (`k` values a row); ties go to the first.
pub(crate) fn argmax_rows(logits: &[f32], k: usize) -> impl Iterator<Item = usize> + '_ {
    logits.chunks(k.max(1)).map(|row| {
        row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
    })
}
