//! The percentile observer: clip the rarest values on each side.

use super::{ActivationQParams, Histogram, Observer, QuantError};

/// Keeps `percentile`% of the values inside the range on each side (e.g. 99.99), from a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct PercentileObserver {
    percentile: f64,
    histogram: Histogram,
}

impl PercentileObserver {
    /// Bins of the histogram behind it: a bin is the precision of the chosen range.
    pub const BINS: usize = 2048;

    /// An observer keeping `percentile` percent (in `(50, 100]`).
    ///
    /// ```
    /// use fasterai_runtime::quant::{Observer, PercentileObserver};
    /// let mut obs = PercentileObserver::new(99.0).unwrap();
    /// let data: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    /// obs.observe(&data).unwrap();
    /// let (_, hi) = obs.clip_range().unwrap();
    /// assert!((hi - 990.0).abs() <= 1.0);
    /// ```
    pub fn new(percentile: f64) -> Result<Self, QuantError> {
        if !(percentile > 50.0 && percentile <= 100.0) {
            return Err(QuantError::InvalidPercentile(percentile));
        }
        Ok(Self { percentile, histogram: Histogram::new(Self::BINS) })
    }

    /// The clipping range chosen (before widening to contain 0).
    pub fn clip_range(&self) -> Result<(f32, f32), QuantError> {
        if self.histogram.total() == 0 {
            return Err(QuantError::EmptyCalibration { observer: "percentile" });
        }
        let keep = self.percentile / 100.0;
        Ok((self.histogram.quantile_lower(keep), self.histogram.quantile_upper(keep)))
    }
}

impl Observer for PercentileObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<(), QuantError> {
        self.histogram.add(batch)
    }

    fn qparams(&self) -> Result<ActivationQParams, QuantError> {
        let (lo, hi) = self.clip_range()?;
        ActivationQParams::from_range(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_data() {
        assert!(PercentileObserver::new(50.0).is_err());
        assert!(PercentileObserver::new(100.5).is_err());
        let mut obs = PercentileObserver::new(99.0).unwrap();
        assert_eq!(obs.qparams(), Err(QuantError::EmptyCalibration { observer: "percentile" }));
        // −5000 … 4999, in two batches.
        let data: Vec<f32> = (-5000..5000).map(|i| i as f32).collect();
        obs.observe(&data[..5000]).unwrap();
        obs.observe(&data[5000..]).unwrap();
        let (lo, hi) = obs.clip_range().unwrap();
        let bin = 10_000.0 / 2048.0;
        assert!((hi - 4900.0).abs() <= 2.0 * bin, "hi {hi}");
        assert!((lo + 4900.0).abs() <= 2.0 * bin, "lo {lo}");
        let mut all = PercentileObserver::new(100.0).unwrap();
        all.observe(&data).unwrap();
        assert_eq!(all.clip_range().unwrap(), (-5000.0, 4999.0));
    }

    #[test]
    fn one_outlier_is_clipped() {
        let mut obs = PercentileObserver::new(99.9).unwrap();
        let mut data: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        data.push(1000.0);
        obs.observe(&data).unwrap();
        let p = obs.qparams().unwrap();
        assert!(p.range().1 < 2.0, "range {:?}", p.range());
    }
}
