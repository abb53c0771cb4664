//! Units of measurement as types, so a figure always says what it counts.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MeasureError;

/// A size in bytes. Shown in megabytes (10⁶ bytes) with two decimals, as fasterai prints sizes.
///
/// ```
/// use fasterai_runtime::measure::Bytes;
/// assert_eq!(Bytes(3_484_216).to_string(), "3.48 MB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    /// The size in megabytes (10⁶ bytes).
    pub fn megabytes(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} MB", self.megabytes())
    }
}

/// A duration in milliseconds (fractional).
///
/// ```
/// use fasterai_runtime::measure::Millis;
/// assert_eq!(Millis::from(std::time::Duration::from_micros(1500)), Millis(1.5));
/// assert_eq!(Millis(1.5).to_string(), "1.50 ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub f64);

impl From<std::time::Duration> for Millis {
    fn from(d: std::time::Duration) -> Self {
        Self(d.as_secs_f64() * 1e3)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} ms", self.0)
    }
}

/// A classification accuracy, stored as a fraction in `[0, 1]`, shown as a percent.
///
/// ```
/// use fasterai_runtime::measure::Accuracy;
/// let a = Accuracy::from_percent(97.5)?;
/// assert_eq!(a.as_fraction(), 0.975);
/// assert_eq!(a.to_string(), "97.50%");
/// assert!(Accuracy::from_fraction(97.5).is_err());
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Accuracy(f64);

impl Accuracy {
    /// From a fraction in `[0, 1]`.
    pub fn from_fraction(fraction: f64) -> Result<Self, MeasureError> {
        if (0.0..=1.0).contains(&fraction) {
            Ok(Self(fraction))
        } else {
            Err(MeasureError::BadAccuracy { value: fraction })
        }
    }

    /// From a percent in `[0, 100]`.
    pub fn from_percent(percent: f64) -> Result<Self, MeasureError> {
        Self::from_fraction(percent / 100.0).map_err(|_| MeasureError::BadAccuracy { value: percent })
    }

    /// `correct / total`; zero samples give an error.
    pub fn from_counts(correct: usize, total: usize) -> Result<Self, MeasureError> {
        if total == 0 {
            return Err(MeasureError::BadAccuracy { value: f64::NAN });
        }
        Self::from_fraction(correct as f64 / total as f64)
    }

    /// The fraction in `[0, 1]`.
    pub fn as_fraction(self) -> f64 {
        self.0
    }

    /// The percent in `[0, 100]`.
    pub fn as_percent(self) -> f64 {
        self.0 * 100.0
    }
}

impl TryFrom<f64> for Accuracy {
    type Error = MeasureError;
    fn try_from(fraction: f64) -> Result<Self, MeasureError> {
        Self::from_fraction(fraction)
    }
}

impl From<Accuracy> for f64 {
    fn from(a: Accuracy) -> f64 {
        a.0
    }
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}%", self.as_percent())
    }
}

/// A factor "n times" (2.0 = twice), e.g. how many times smaller or faster.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Times(pub f64);

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}×", self.0)
    }
}

/// A difference of percentages in percentage points (97.0% − 95.5% = +1.5 points).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(pub f64);

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.2} pts", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_checks_its_range_and_converts() {
        assert_eq!(Accuracy::from_counts(3, 4).unwrap().as_percent(), 75.0);
        assert!(Accuracy::from_counts(1, 0).is_err());
        assert!(Accuracy::from_fraction(-0.01).is_err());
        assert!(Accuracy::from_fraction(f64::NAN).is_err());
        assert!(Accuracy::from_percent(100.5).is_err());
        let json = serde_json::to_string(&Accuracy::from_fraction(0.5).unwrap()).unwrap();
        assert_eq!(json, "0.5");
        assert!(serde_json::from_str::<Accuracy>("1.5").is_err(), "deserialising checks the range too");
    }

    #[test]
    fn displays_carry_their_unit() {
        assert_eq!(Bytes(537_300_000).to_string(), "537.30 MB");
        assert_eq!(Times(2.345).to_string(), "2.35×");
        assert_eq!(Points(-0.5).to_string(), "-0.50 pts");
        assert_eq!(Points(1.0).to_string(), "+1.00 pts");
    }
}
