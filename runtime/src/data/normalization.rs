//! Per-pixel normalisation statistics: `x ↦ (x - mean) / std`.

use super::DataError;

/// The mean and standard deviation that map pixels (already scaled to `[0, 1]`) to roughly zero mean and
/// unit variance: `x ↦ (x - mean) / std`.
///
/// ```
/// use fasterai_runtime::data::Normalization;
/// let n = Normalization::new(0.5, 0.25).unwrap();
/// assert_eq!(n.apply(1.0), 2.0);
/// assert!(Normalization::new(0.5, 0.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    mean: f32,
    std: f32,
}

impl Normalization {
    /// MNIST's training-set statistics (pixels scaled to `[0, 1]`).
    pub const MNIST: Self = Self { mean: 0.1307, std: 0.3081 };
    /// Fashion-MNIST's training-set statistics (pixels scaled to `[0, 1]`).
    pub const FASHION_MNIST: Self = Self { mean: 0.2860, std: 0.3530 };
    /// No change: mean 0, std 1.
    pub const IDENTITY: Self = Self { mean: 0.0, std: 1.0 };

    /// Checked constructor: `mean` finite, `std` finite and positive.
    pub fn new(mean: f32, std: f32) -> Result<Self, DataError> {
        if mean.is_finite() && std.is_finite() && std > 0.0 {
            Ok(Self { mean, std })
        } else {
            Err(DataError::BadNormalization { mean, std })
        }
    }

    /// The mean and (population) standard deviation of `pixels`.
    ///
    /// A constant or empty input gives [`DataError::BadNormalization`], since dividing by a zero std
    /// would make every pixel infinite.
    pub fn fit(pixels: &[f32]) -> Result<Self, DataError> {
        let n = pixels.len() as f64;
        let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
        let var = pixels.iter().map(|&p| (f64::from(p) - mean).powi(2)).sum::<f64>() / n;
        Self::new(mean as f32, var.sqrt() as f32)
    }

    /// The mean subtracted.
    pub fn mean(&self) -> f32 {
        self.mean
    }

    /// The standard deviation divided by.
    pub fn std(&self) -> f32 {
        self.std
    }

    /// Normalises one value.
    pub fn apply(&self, x: f32) -> f32 {
        (x - self.mean) / self.std
    }

    /// Normalises every value in place.
    pub fn apply_all(&self, xs: &mut [f32]) {
        let inv = 1.0 / self.std;
        for x in xs {
            *x = (*x - self.mean) * inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_then_apply_gives_zero_mean_unit_std() {
        let mut xs = vec![0.0, 1.0, 2.0, 3.0, 10.0];
        let n = Normalization::fit(&xs).unwrap();
        assert!((n.mean() - 3.2).abs() < 1e-6);
        n.apply_all(&mut xs);
        let mean = xs.iter().sum::<f32>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 5.0;
        assert!(mean.abs() < 1e-6, "{mean}");
        assert!((var - 1.0).abs() < 1e-5, "{var}");
    }

    #[test]
    fn rejects_constant_empty_and_non_finite_inputs() {
        assert!(matches!(Normalization::fit(&[2.0; 4]), Err(DataError::BadNormalization { .. })));
        assert!(Normalization::fit(&[]).is_err());
        assert!(Normalization::new(f32::NAN, 1.0).is_err());
        assert!(Normalization::new(0.0, -1.0).is_err());
        assert!(Normalization::new(0.0, f32::INFINITY).is_err());
    }

    #[test]
    fn apply_all_matches_apply() {
        let n = Normalization::FASHION_MNIST;
        let mut xs = [0.0, 0.5, 1.0];
        n.apply_all(&mut xs);
        for (x, raw) in xs.iter().zip([0.0, 0.5, 1.0]) {
            assert!((x - n.apply(raw)).abs() < 1e-6);
        }
    }
}
