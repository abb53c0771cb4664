//! Top-1 accuracy.

use super::{argmax_rows, Metric};
use crate::learn::Fraction;

/// Share of samples whose largest logit is at their label.
///
/// ```
/// use fasterai_runtime::learn::{AccuracyMetric, Fraction, Metric};
/// let mut acc = AccuracyMetric::default();
/// acc.accumulate(&[0.1, 0.9, 0.8, 0.2], &[1, 1]);
/// assert_eq!(acc.fraction(), Fraction::of(1, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccuracyMetric {
    correct: usize,
    seen: usize,
}

impl AccuracyMetric {
    /// The accuracy so far as a fraction; zero before any sample.
    pub fn fraction(&self) -> Fraction {
        Fraction::of(self.correct, self.seen)
    }
}

impl Metric for AccuracyMetric {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn accumulate(&mut self, logits: &[f32], labels: &[usize]) {
        if labels.is_empty() {
            return;
        }
        let k = logits.len() / labels.len();
        for (predicted, &label) in argmax_rows(logits, k).zip(labels) {
            self.correct += usize::from(predicted == label);
            self.seen += 1;
        }
    }

    fn value(&self) -> f64 {
        self.fraction().get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_top1_hits_over_batches() {
        let mut acc = AccuracyMetric::default();
        for (logits, labels, why) in [
            (vec![3.0, 1.0, 2.0], vec![0], "clear winner at the label"),
            (vec![1.0, 1.0, 0.0], vec![1], "a tie goes to the first class, so this misses"),
            (vec![0.0, 0.0, 5.0, 5.0, 0.0, 0.0], vec![2, 0], "two rows, both hit"),
        ] {
            acc.accumulate(&logits, &labels);
            assert!(acc.seen > 0, "{why}");
        }
        assert_eq!(acc.fraction(), Fraction::of(3, 4));
        acc.reset();
        assert_eq!(acc.value(), 0.0);
    }
}
