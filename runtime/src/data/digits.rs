//! The 8×8 handwritten digits set embedded in `smartcore` (1797 images, 10 classes, UCI, CC BY 4.0).
//!
//! Needs nothing but cargo: the pixels are compiled into the `smartcore` crate.

use super::{DataError, Dataset, Normalization, ValidSplit};

/// Samples in the embedded set.
pub const DIGITS_SAMPLES: usize = 1797;
/// Classes (the digits 0 to 9).
pub const DIGITS_CLASSES: usize = 10;
/// Image shape `[C, H, W]`.
pub const DIGITS_SHAPE: [usize; 3] = [1, 8, 8];
/// Largest raw pixel value: each pixel counts the set bits of a 4×4 block of the original 32×32 bitmap.
pub const DIGITS_PIXEL_MAX: f32 = 16.0;

/// The digits set split into (train, valid), shape `[1, 8, 8]`, 10 classes.
///
/// The split shuffles the 1797 samples from `seed` and holds out `round(1797 × share)` of them;
/// `split` is a [`ValidSplit`] or a bare fraction (`0.2`), checked to lie in `(0, 1)`.
/// Normalisation: pixels are divided by 16 (into `[0, 1]`), then standardised with the mean and
/// standard deviation of the **training split only** (one scalar pair over all pixels), applied to both
/// splits; [`digits_normalization`] returns that pair.
///
/// ```
/// use fasterai_runtime::data::{digits, ValidSplit};
/// let (train, valid) = digits(ValidSplit::fraction(0.2)?, 42)?;
/// assert_eq!((train.len(), valid.len()), (1438, 359));
/// assert_eq!(digits(0.2, 42)?.1, valid);
/// assert!(digits(20.0, 42).is_err(), "20 is not a fraction; use ValidSplit::percent(20.0)");
/// assert_eq!(train.shape(), [1, 8, 8]);
/// # Ok::<(), fasterai_runtime::data::DataError>(())
/// ```
pub fn digits<S>(split: S, seed: u64) -> Result<(Dataset, Dataset), DataError>
where
    S: TryInto<ValidSplit>,
    DataError: From<S::Error>,
{
    let (all, train_idx, valid_idx) = split_digits(split, seed)?;
    let mut train = all.select(&train_idx)?;
    let mut valid = all.select(&valid_idx)?;
    let norm = Normalization::fit(train.images())?;
    train.normalize(norm);
    valid.normalize(norm);
    Ok((train, valid))
}

/// The normalisation [`digits`] applies for this `split` and `seed` (statistics of pixels / 16 over
/// the training split), to prepare new images the same way.
pub fn digits_normalization<S>(split: S, seed: u64) -> Result<Normalization, DataError>
where
    S: TryInto<ValidSplit>,
    DataError: From<S::Error>,
{
    let (all, train_idx, _) = split_digits(split, seed)?;
    Normalization::fit(all.select(&train_idx)?.images())
}

/// All the digits (pixels / 16, not normalised) and the indices of the training and validation
/// samples of `split` with `seed`.
fn split_digits<S>(split: S, seed: u64) -> Result<(Dataset, Vec<usize>, Vec<usize>), DataError>
where
    S: TryInto<ValidSplit>,
    DataError: From<S::Error>,
{
    let split: ValidSplit = split.try_into()?;
    let (pixels, labels) = load_checked()?;
    let (train_idx, valid_idx) = split.indices(DIGITS_SAMPLES, seed)?;
    let all = Dataset::new(pixels, labels, DIGITS_SHAPE, DIGITS_CLASSES)?;
    Ok((all, train_idx, valid_idx))
}

/// The embedded set with pixels scaled to `[0, 1]` and integer labels, after checking its layout
/// and values.
fn load_checked() -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let raw = smartcore::dataset::digits::load_dataset();
    check_digits(raw.data, raw.target, raw.num_samples, raw.num_features)
}

/// Checks what smartcore returned: 1797 samples × 64 features, pixels in `0..=16`, labels integers
/// in `0..=9`. Scales pixels by 1/16 and converts labels.
fn check_digits(
    data: Vec<f32>,
    target: Vec<f32>,
    samples: usize,
    features: usize,
) -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let per = DIGITS_SHAPE.iter().product::<usize>();
    if samples != DIGITS_SAMPLES || features != per || data.len() != samples * per || target.len() != samples
    {
        return Err(DataError::DigitsMalformed {
            samples,
            features,
            data_len: data.len(),
            targets: target.len(),
        });
    }
    if let Some(i) = data.iter().position(|p| !(0.0..=DIGITS_PIXEL_MAX).contains(p)) {
        return Err(DataError::DigitsValue { what: "pixel", value: data[i], index: i / per });
    }
    let mut labels = Vec::with_capacity(samples);
    for (index, &y) in target.iter().enumerate() {
        if y.fract() != 0.0 || !(0.0..DIGITS_CLASSES as f32).contains(&y) {
            return Err(DataError::DigitsValue { what: "label", value: y, index });
        }
        labels.push(y as usize);
    }
    let pixels = data.into_iter().map(|p| p / DIGITS_PIXEL_MAX).collect();
    Ok((pixels, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_loads_1797_samples_split_as_asked() {
        let split = ValidSplit::fraction(0.2).unwrap();
        let (train, valid) = digits(split, 42).unwrap();
        assert_eq!(train.len() + valid.len(), DIGITS_SAMPLES);
        assert_eq!(valid.len(), 359);
        assert_eq!(train.shape(), [1, 8, 8]);
        assert_eq!(valid.shape(), [1, 8, 8]);
        assert_eq!(train.num_classes(), 10);
        // Every class is present in both splits.
        assert!(train.class_counts().iter().all(|&c| c > 0));
        assert!(valid.class_counts().iter().all(|&c| c > 0));
        // Training split standardised: mean 0, std 1 over all its pixels.
        let n = train.images().len() as f64;
        let mean = train.images().iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = train.images().iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-4, "mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "var {var}");
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let split = ValidSplit::percent(25.0).unwrap();
        let (a_train, a_valid) = digits(split, 1).unwrap();
        let (b_train, b_valid) = digits(split, 1).unwrap();
        assert_eq!((&a_train, &a_valid), (&b_train, &b_valid));
        let (_, c_valid) = digits(split, 2).unwrap();
        assert_ne!(a_valid.labels(), c_valid.labels());
    }

    #[test]
    fn normalization_matches_the_applied_one() {
        let split = ValidSplit::fraction(0.2).unwrap();
        let norm = digits_normalization(split, 42).unwrap();
        let (pixels, _) = load_checked().unwrap();
        let (train_idx, _) = split.indices(DIGITS_SAMPLES, 42).unwrap();
        let (train, _) = digits(split, 42).unwrap();
        let first_raw = &pixels[train_idx[0] * 64..train_idx[0] * 64 + 64];
        for (got, &raw) in train.image(0).iter().zip(first_raw) {
            assert!((got - norm.apply(raw)).abs() < 1e-6);
        }
        // Raw pixels are 0..=16, so scaled ones lie in [0, 1] with both ends reached.
        assert_eq!(pixels.iter().cloned().fold(f32::MAX, f32::min), 0.0);
        assert_eq!(pixels.iter().cloned().fold(f32::MIN, f32::max), 1.0);
    }

    #[test]
    fn check_rejects_a_wrong_layout_or_values() {
        assert!(matches!(
            check_digits(vec![0.0; 64], vec![0.0], 1, 64),
            Err(DataError::DigitsMalformed { samples: 1, .. })
        ));
        let good = || (vec![1.0; DIGITS_SAMPLES * 64], vec![3.0; DIGITS_SAMPLES]);
        let (mut data, target) = good();
        data[64 * 5 + 3] = 17.0;
        assert!(matches!(
            check_digits(data, target, DIGITS_SAMPLES, 64),
            Err(DataError::DigitsValue { what: "pixel", index: 5, .. })
        ));
        let (data, mut target) = good();
        target[9] = 2.5;
        assert!(matches!(
            check_digits(data, target, DIGITS_SAMPLES, 64),
            Err(DataError::DigitsValue { what: "label", index: 9, .. })
        ));
        let (data, target) = good();
        assert!(check_digits(data, target, DIGITS_SAMPLES, 32).is_err());
    }
}
