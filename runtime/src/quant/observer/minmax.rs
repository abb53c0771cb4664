//! The min-max observer: the smallest range containing every value seen (and 0).

use super::{check_finite, ActivationQParams, Observer, QuantError};

/// Tracks the running minimum and maximum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinMaxObserver {
    range: Option<(f32, f32)>,
}

impl MinMaxObserver {
    /// The range seen so far, if any.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<(), QuantError> {
        check_finite(batch)?;
        for &v in batch {
            let (lo, hi) = self.range.get_or_insert((v, v));
            *lo = lo.min(v);
            *hi = hi.max(v);
        }
        Ok(())
    }

    fn qparams(&self) -> Result<ActivationQParams, QuantError> {
        let (lo, hi) = self.range.ok_or(QuantError::EmptyCalibration { observer: "min-max" })?;
        ActivationQParams::from_range(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_batches() {
        let mut obs = MinMaxObserver::default();
        assert_eq!(obs.qparams(), Err(QuantError::EmptyCalibration { observer: "min-max" }));
        obs.observe(&[]).unwrap();
        assert!(obs.qparams().is_err(), "an empty batch is no calibration");
        obs.observe(&[0.25, 1.0]).unwrap();
        obs.observe(&[-0.5, 0.75]).unwrap();
        assert_eq!(obs.range(), Some((-0.5, 1.0)));
        let p = obs.qparams().unwrap();
        assert_eq!(p, ActivationQParams::from_range(-0.5, 1.0).unwrap());
        assert_eq!(p.zero_point, 85); // 0.5 / (1.5 / 255)
        assert!(obs.observe(&[1.0, f32::NAN]).is_err());
    }
}
