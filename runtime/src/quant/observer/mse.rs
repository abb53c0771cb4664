//! The MSE observer: the clipping range minimising the squared quantization error of the data seen.

use super::{ActivationQParams, Histogram, Observer, QuantError};

/// Searches clipping ranges `[f_lo·min, f_hi·max]` over a grid of fractions and keeps the one whose
/// expected squared error over the histogram is smallest: a value inside the range costs the
/// rounding noise `step²/12`, a clipped one its distance to the range squared. A long tail gets
/// clipped; a uniform spread keeps its full range.
#[derive(Debug, Clone, PartialEq)]
pub struct MseObserver {
    histogram: Histogram,
}

impl Default for MseObserver {
    fn default() -> Self {
        Self { histogram: Histogram::new(Self::BINS) }
    }
}

impl MseObserver {
    /// Bins of the histogram behind it.
    pub const BINS: usize = 2048;
    /// Candidate fractions per side.
    pub const STEPS: usize = 64;

    /// The expected summed squared error of quantizing the observed values with `p`.
    pub fn error_of(&self, p: &ActivationQParams) -> f64 {
        let step = p.scale.get() as f64;
        let noise = step * step / 12.0;
        let (lo, hi) = p.range();
        let (lo, hi) = (lo as f64 - step / 2.0, hi as f64 + step / 2.0);
        self.histogram
            .bins()
            .filter(|&(_, c)| c > 0)
            .map(|(v, c)| {
                let v = v as f64;
                let clipped = if v < lo { lo - v } else if v > hi { v - hi } else { 0.0 };
                (noise + clipped * clipped) * c as f64
            })
            .sum()
    }
}

impl Observer for MseObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<(), QuantError> {
        self.histogram.add(batch)
    }

    fn qparams(&self) -> Result<ActivationQParams, QuantError> {
        if self.histogram.total() == 0 {
            return Err(QuantError::EmptyCalibration { observer: "mse" });
        }
        let (min, max) = self.histogram.range();
        let fractions = |end: f32| -> Vec<f32> {
            if end == 0.0 {
                vec![0.0]
            } else {
                (1..=Self::STEPS).map(|i| end * i as f32 / Self::STEPS as f32).collect()
            }
        };
        let (los, his) = (fractions(min.min(0.0)), fractions(max.max(0.0)));
        let mut best = (f64::INFINITY, ActivationQParams::from_range(min, max)?);
        for &lo in &los {
            for &hi in &his {
                let p = ActivationQParams::from_range(lo, hi)?;
                let e = self.error_of(&p);
                if e < best.0 {
                    best = (e, p);
                }
            }
        }
        Ok(best.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::MinMaxObserver;

    #[test]
    fn empty_is_an_error() {
        assert_eq!(MseObserver::default().qparams(), Err(QuantError::EmptyCalibration { observer: "mse" }));
    }

    #[test]
    fn exponential_tail_is_clipped_near_the_optimum() {
        // Exponential quantiles x = −ln(1 − u) on a grid of u: maximum ln(2n) ≈ 12.2.
        // Expected error per value (c/255)²/12 + 2e^(−c) is smallest where c·e^c = 255²·12, c ≈ 11.1.
        let n = 100_000;
        let data: Vec<f32> = (0..n).map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln() as f32).collect();
        let mut mse = MseObserver::default();
        let mut minmax = MinMaxObserver::default();
        for batch in data.chunks(30_000) {
            mse.observe(batch).unwrap();
            minmax.observe(batch).unwrap();
        }
        let (p_mse, p_mm) = (mse.qparams().unwrap(), minmax.qparams().unwrap());
        let hi = p_mse.range().1;
        assert!((10.0..12.0).contains(&hi), "clipped to {hi}, max {:?}", minmax.range());
        assert!(mse.error_of(&p_mse) < mse.error_of(&p_mm));
    }

    #[test]
    fn uniform_data_keeps_nearly_its_range() {
        let data: Vec<f32> = (0..=1000).map(|i| i as f32 / 1000.0 * 2.0 - 0.5).collect();
        let mut mse = MseObserver::default();
        mse.observe(&data).unwrap();
        let (lo, hi) = mse.qparams().unwrap().range();
        assert!(lo <= -0.45 && hi >= 1.4, "range {lo}..{hi}");
    }
}
