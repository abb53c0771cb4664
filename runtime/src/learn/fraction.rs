//! A share of a whole, kept in `[0, 1]`: accuracy, progress through training.

use serde::{Deserialize, Serialize};

/// A share of a whole in `[0, 1]` (never a percent): `0.25` is a quarter.
///
/// Used for accuracy and for the progress through training (fastai's `pct_train`), so that no
/// reader has to guess whether `25` or `0.25` is meant.
///
/// ```
/// use fasterai_runtime::learn::Fraction;
/// let f = Fraction::of(3, 4);
/// assert_eq!(f.get(), 0.75);
/// assert_eq!(f.percent(), 75.0);
/// assert!(Fraction::new(1.5).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(f64);

impl Fraction {
    /// Nothing of the whole.
    pub const ZERO: Self = Self(0.0);
    /// The whole.
    pub const ONE: Self = Self(1.0);

    /// `value` as a fraction, or `None` unless it lies in `[0, 1]`.
    pub fn new(value: f64) -> Option<Self> {
        (0.0..=1.0).contains(&value).then_some(Self(value))
    }

    /// `part / whole`; `whole == 0` gives [`Fraction::ZERO`], `part > whole` gives [`Fraction::ONE`].
    pub fn of(part: usize, whole: usize) -> Self {
        if whole == 0 {
            Self::ZERO
        } else {
            Self((part.min(whole)) as f64 / whole as f64)
        }
    }

    /// The value in `[0, 1]`.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The value times 100.
    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }
}

impl TryFrom<f64> for Fraction {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value).ok_or_else(|| format!("{value} is not a fraction in [0, 1]"))
    }
}

impl From<Fraction> for f64 {
    fn from(f: Fraction) -> f64 {
        f.0
    }
}

impl std::fmt::Display for Fraction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match f.precision() {
            Some(p) => write!(f, "{:.*}", p, self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_values_outside_zero_one() {
        for (value, ok, why) in [
            (0.0, true, "lower bound included"),
            (1.0, true, "upper bound included"),
            (-0.01, false, "negative"),
            (25.0, false, "a percent is not a fraction"),
            (f64::NAN, false, "NaN is no share"),
        ] {
            assert_eq!(Fraction::new(value).is_some(), ok, "{why}");
        }
    }

    #[test]
    fn serialises_as_a_plain_number_and_checks_on_the_way_back() {
        assert_eq!(serde_json::to_string(&Fraction::of(1, 4)).unwrap(), "0.25");
        assert_eq!(serde_json::from_str::<Fraction>("0.5").unwrap(), Fraction::of(1, 2));
        assert!(serde_json::from_str::<Fraction>("50").is_err());
    }
}
