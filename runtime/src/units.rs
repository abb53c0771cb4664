//! Units as types: a sparsity or a ratio is built from a percent or a fraction and validated once,
//! so no function ever guesses whether `0.5` meant half or half a percent.
//!
//! ```
//! use fasterai_runtime::units::{Ratio, Sparsity};
//! let s = Sparsity::from_percent(50.0).unwrap();
//! assert_eq!(s.fraction(), 0.5);
//! assert_eq!(Ratio::from_fraction(0.25).unwrap().percent(), 25.0);
//! assert_eq!("30%".parse::<Sparsity>().unwrap().fraction(), 0.3);
//! assert!(Sparsity::from_percent(120.0).is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A value that cannot be a fraction of a whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// The value lies outside 0–100% (or is not a number).
    #[error("{what} of {value}{unit} is outside 0–100%; give a percent in [0, 100] or a fraction in [0, 1]")]
    OutOfRange {
        /// What was being built ("sparsity", "ratio").
        what: &'static str,
        /// The value given.
        value: f64,
        /// "%" for a percent, "" for a fraction.
        unit: &'static str,
    },
    /// A text that is neither `50%` nor a fraction such as `0.5`.
    #[error("cannot read {what} from `{text}`: write a percent such as `50%` or a fraction such as `0.5`")]
    Unreadable {
        /// What was being built.
        what: &'static str,
        /// The text given.
        text: String,
    },
}

macro_rules! fraction_unit {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            /// Zero: nothing.
            pub const ZERO: Self = Self(0.0);
            /// One hundred percent: everything.
            pub const FULL: Self = Self(1.0);

            /// From a percent in `[0, 100]`.
            pub fn from_percent(percent: f64) -> Result<Self, UnitError> {
                if (0.0..=100.0).contains(&percent) {
                    Ok(Self(percent / 100.0))
                } else {
                    Err(UnitError::OutOfRange { what: $what, value: percent, unit: "%" })
                }
            }

            /// From a fraction in `[0, 1]`.
            pub fn from_fraction(fraction: f64) -> Result<Self, UnitError> {
                if (0.0..=1.0).contains(&fraction) {
                    Ok(Self(fraction))
                } else {
                    Err(UnitError::OutOfRange { what: $what, value: fraction, unit: "" })
                }
            }

            /// As a fraction in `[0, 1]`.
            pub fn fraction(self) -> f64 {
                self.0
            }

            /// As a percent in `[0, 100]`.
            pub fn percent(self) -> f64 {
                self.0 * 100.0
            }

            /// This value scaled by a schedule's progress in `[0, 1]` (clamped).
            pub fn scaled(self, progress: f64) -> Self {
                Self(self.0 * progress.clamp(0.0, 1.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:.2}%", self.percent())
            }
        }

        impl FromStr for $name {
            type Err = UnitError;
            /// Reads `50%` as a percent and `0.5` as a fraction; anything else is an error.
            fn from_str(text: &str) -> Result<Self, UnitError> {
                let t = text.trim();
                let unreadable = || UnitError::Unreadable { what: $what, text: text.to_string() };
                match t.strip_suffix('%') {
                    Some(p) => Self::from_percent(p.trim().parse().map_err(|_| unreadable())?),
                    None => Self::from_fraction(t.parse().map_err(|_| unreadable())?),
                }
            }
        }

        impl TryFrom<f64> for $name {
            type Error = UnitError;
            /// Reads a fraction in `[0, 1]` (the serialised form).
            fn try_from(fraction: f64) -> Result<Self, UnitError> {
                Self::from_fraction(fraction)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }
    };
}

fraction_unit!(
    /// The share of weights (or groups of weights) set to zero.
    Sparsity,
    "sparsity"
);
fraction_unit!(
    /// The share of something removed: channels pruned, rank discarded.
    Ratio,
    "ratio"
);
fraction_unit!(
    /// The share `w` of a loss given to an added term: the total is `(1 − w)·task + w·term`
    /// (knowledge distillation's weight).
    LossWeight,
    "loss weight"
);
fraction_unit!(
    /// A share of a matrix's energy (the sum of its squared singular values), e.g. the part a
    /// truncated SVD must keep.
    Energy,
    "energy"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_fraction_agree() {
        for (p, f) in [(0.0, 0.0), (50.0, 0.5), (100.0, 1.0), (12.5, 0.125)] {
            assert_eq!(Sparsity::from_percent(p).unwrap(), Sparsity::from_fraction(f).unwrap());
        }
    }

    #[test]
    fn out_of_range_is_an_error_naming_the_value() {
        let cases: [(Result<Sparsity, UnitError>, &str); 4] = [
            (Sparsity::from_percent(-1.0), "-1%"),
            (Sparsity::from_percent(100.5), "100.5%"),
            (Sparsity::from_fraction(1.5), "1.5"),
            (Sparsity::from_fraction(f64::NAN), "NaN"),
        ];
        for (r, shown) in cases {
            let msg = r.unwrap_err().to_string();
            assert!(msg.contains(shown), "{msg}");
        }
    }

    #[test]
    fn parsing_needs_an_explicit_unit_for_percents() {
        assert_eq!("50%".parse::<Ratio>().unwrap().fraction(), 0.5);
        assert_eq!(" 0.25 ".parse::<Ratio>().unwrap().percent(), 25.0);
        // A bare 50 is not silently read as a percent.
        assert!(matches!("50".parse::<Ratio>(), Err(UnitError::OutOfRange { .. })));
        assert!(matches!("half".parse::<Ratio>(), Err(UnitError::Unreadable { .. })));
    }

    #[test]
    fn serde_uses_the_fraction_and_validates() {
        let s: Sparsity = serde_json::from_str("0.3").unwrap();
        assert_eq!(s.fraction(), 0.3);
        assert_eq!(serde_json::to_string(&s).unwrap(), "0.3");
        assert!(serde_json::from_str::<Sparsity>("30").is_err());
    }

    #[test]
    fn scaling_by_progress_clamps() {
        let s = Sparsity::from_percent(50.0).unwrap();
        assert_eq!(s.scaled(0.5).fraction(), 0.25);
        assert_eq!(s.scaled(2.0), s);
        assert_eq!(s.scaled(-1.0), Sparsity::ZERO);
    }
}
