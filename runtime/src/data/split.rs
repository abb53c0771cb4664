//! The share of a dataset held out for validation.

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::DataError;

/// The share of samples held out for validation, strictly between 0 and 1.
///
/// Built from a fraction or a percent, so that `0.2` and `20` never get confused.
///
/// ```
/// use fasterai_runtime::data::ValidSplit;
/// assert_eq!(ValidSplit::percent(20.0).unwrap(), ValidSplit::fraction(0.2).unwrap());
/// assert_eq!(ValidSplit::fraction(0.2).unwrap().valid_count(1797), 359);
/// assert!(ValidSplit::fraction(20.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidSplit(f64);

impl ValidSplit {
    /// A share given as a fraction in `(0, 1)`.
    pub fn fraction(share: f64) -> Result<Self, DataError> {
        if share.is_finite() && share > 0.0 && share < 1.0 {
            Ok(Self(share))
        } else {
            Err(DataError::BadSplit {
                reason: format!(
                    "validation fraction {share} is outside (0, 1); for a percent use ValidSplit::percent"
                ),
            })
        }
    }

    /// A share given as a percent in `(0, 100)`.
    pub fn percent(share: f64) -> Result<Self, DataError> {
        if share.is_finite() && share > 0.0 && share < 100.0 {
            Ok(Self(share / 100.0))
        } else {
            Err(DataError::BadSplit { reason: format!("validation percent {share} is outside (0, 100)") })
        }
    }

    /// The share as a fraction.
    pub fn as_fraction(&self) -> f64 {
        self.0
    }

    /// Samples held out of `n`: `round(n × share)`.
    pub fn valid_count(&self, n: usize) -> usize {
        (n as f64 * self.0).round() as usize
    }

    /// Splits `0..n` into (train, valid) index lists, shuffled from `seed`.
    ///
    /// Both lists are sorted, so samples keep their original order inside each split.
    /// Errors when either split would be empty.
    pub fn indices(&self, n: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let n_valid = self.valid_count(n);
        if n_valid == 0 || n_valid >= n {
            return Err(DataError::BadSplit {
                reason: format!(
                    "holding out {:.1}% of {n} samples leaves {n_valid} for validation and {} for training; \
                     both need at least one",
                    self.0 * 100.0,
                    n.saturating_sub(n_valid)
                ),
            });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut valid = order[..n_valid].to_vec();
        let mut train = order[n_valid..].to_vec();
        valid.sort_unstable();
        train.sort_unstable();
        Ok((train, valid))
    }
}

/// A bare number is read as a fraction in `(0, 1)`: `0.2` holds out 20%; `20.0` is an error that
/// points to [`ValidSplit::percent`].
impl TryFrom<f64> for ValidSplit {
    type Error = DataError;
    fn try_from(fraction: f64) -> Result<Self, DataError> {
        Self::fraction(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_partition_all_samples_and_depend_on_the_seed() {
        let split = ValidSplit::fraction(0.25).unwrap();
        let (train, valid) = split.indices(100, 7).unwrap();
        assert_eq!((train.len(), valid.len()), (75, 25));
        let mut all: Vec<usize> = train.iter().chain(&valid).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split.indices(100, 7).unwrap().1, valid, "same seed, same split");
        assert_ne!(split.indices(100, 8).unwrap().1, valid, "another seed, another split");
    }

    #[test]
    fn rejects_out_of_range_shares_and_empty_splits() {
        for bad in [0.0, 1.0, -0.1, 20.0, f64::NAN] {
            assert!(ValidSplit::fraction(bad).is_err(), "{bad}");
        }
        assert!(ValidSplit::percent(100.0).is_err());
        assert_eq!(ValidSplit::try_from(0.2).unwrap(), ValidSplit::percent(20.0).unwrap());
        assert!(ValidSplit::try_from(20.0).unwrap_err().to_string().contains("ValidSplit::percent"));
        assert!(ValidSplit::fraction(0.1).unwrap().indices(3, 0).is_err(), "0 valid samples");
        assert!(ValidSplit::fraction(0.9).unwrap().indices(1, 0).is_err(), "0 train samples");
    }
}
