//! An in-memory labelled image set.

use rand::{rngs::StdRng, seq::index::sample, SeedableRng};

use super::{DataError, Normalization};

/// Normalised images and their labels, all in memory.
///
/// Images are stored one after the other, each `C×H×W` row-major, as `f32`.
///
/// ```
/// use fasterai_runtime::data::Dataset;
/// let ds = Dataset::new(vec![0.0; 2 * 4], vec![0, 1], [1, 2, 2], 2).unwrap();
/// assert_eq!(ds.len(), 2);
/// assert_eq!(ds.image(1).len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Vec<f32>,
    labels: Vec<usize>,
    shape: [usize; 3],
    num_classes: usize,
}

impl Dataset {
    /// Builds a dataset, checking that there is one label per image, every label is a class and
    /// every pixel is finite (a NaN pixel would make the loss NaN mid-training; the error names the
    /// sample, the pixel and its value instead).
    ///
    /// ```
    /// use fasterai_runtime::data::Dataset;
    /// let e = Dataset::new(vec![0.0, 1.0, f32::NAN, 0.5], vec![0, 1], [1, 1, 2], 2).unwrap_err();
    /// assert!(e.to_string().contains("sample 1 has pixel 0 = NaN"));
    /// ```
    pub fn new(
        images: Vec<f32>,
        labels: Vec<usize>,
        shape: [usize; 3],
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let per = shape.iter().product::<usize>().max(1);
        let n_images = images.len() / per;
        if !images.len().is_multiple_of(per) || n_images != labels.len() {
            return Err(DataError::CountMismatch { images: n_images, labels: labels.len() });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
            return Err(DataError::LabelOutOfRange { label, index, num_classes });
        }
        if let Some(at) = images.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFinitePixel { index: at / per, pixel: at % per, value: images[at] });
        }
        Ok(Self { images, labels, shape, num_classes })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[C, H, W]` of one image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Number of `f32` values in one image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The pixels of sample `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The label of sample `i`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i]
    }

    /// All pixels, sample after sample.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Applies `norm` to every pixel, in place.
    pub fn normalize(&mut self, norm: Normalization) {
        norm.apply_all(&mut self.images);
    }

    /// The samples at `indices`, in that order (an index may repeat).
    ///
    /// Errors with [`DataError::BadSubset`] when an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Self, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::BadSubset { requested: bad + 1, available: self.len() });
        }
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(Self { images, labels, shape: self.shape, num_classes: self.num_classes })
    }

    /// A random subset of `n` distinct samples drawn from `seed`, kept in their original order.
    ///
    /// For quick runs on a part of a large training set (`--train-subset`). Errors when `n` is 0 or
    /// larger than the set.
    ///
    /// ```
    /// use fasterai_runtime::data::Dataset;
    /// let ds = Dataset::new((0..10).map(|x| x as f32).collect(), vec![0; 10], [1, 1, 1], 1).unwrap();
    /// let sub = ds.subset(4, 0).unwrap();
    /// assert_eq!(sub.len(), 4);
    /// assert!(ds.subset(11, 0).is_err());
    /// ```
    pub fn subset(&self, n: usize, seed: u64) -> Result<Self, DataError> {
        if n == 0 || n > self.len() {
            return Err(DataError::BadSubset { requested: n, available: self.len() });
        }
        let mut picked = sample(&mut StdRng::seed_from_u64(seed), self.len(), n).into_vec();
        picked.sort_unstable();
        self.select(&picked)
    }

    /// How many samples each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_pixels_are_refused_naming_the_first() {
        let mut images = vec![0.5; 3 * 4];
        images[6] = f32::INFINITY;
        images[9] = f32::NAN;
        let error = Dataset::new(images, vec![0, 1, 0], [1, 2, 2], 2).unwrap_err();
        assert!(matches!(error, DataError::NonFinitePixel { index: 1, pixel: 2, .. }), "{error}");
        assert!(error.to_string().contains("sample 1 has pixel 2 = inf, which is not a finite number"), "{error}");
    }

    fn numbered(n: usize) -> Dataset {
        let images = (0..n * 2).map(|x| x as f32).collect();
        Dataset::new(images, (0..n).map(|i| i % 3).collect(), [1, 1, 2], 3).unwrap()
    }

    #[test]
    fn new_rejects_mismatched_counts_and_bad_labels() {
        assert!(matches!(
            Dataset::new(vec![0.0; 6], vec![0, 0], [1, 1, 2], 3),
            Err(DataError::CountMismatch { images: 3, labels: 2 })
        ));
        assert!(matches!(
            Dataset::new(vec![0.0; 4], vec![0, 3], [1, 1, 2], 3),
            Err(DataError::LabelOutOfRange { label: 3, index: 1, num_classes: 3 })
        ));
    }

    #[test]
    fn select_copies_images_with_their_labels() {
        let ds = numbered(5);
        let sel = ds.select(&[4, 1]).unwrap();
        assert_eq!(sel.images(), &[8.0, 9.0, 2.0, 3.0]);
        assert_eq!(sel.labels(), &[1, 1]);
        assert!(matches!(ds.select(&[5]), Err(DataError::BadSubset { .. })));
    }

    #[test]
    fn subset_draws_distinct_samples_reproducibly() {
        let ds = numbered(50);
        let a = ds.subset(20, 3).unwrap();
        assert_eq!(a.len(), 20);
        let firsts: Vec<f32> = (0..a.len()).map(|i| a.image(i)[0]).collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]), "distinct and in original order");
        for (i, &first) in firsts.iter().enumerate() {
            assert_eq!(a.label(i), (first as usize / 2) % 3, "label follows its image");
        }
        assert_eq!(ds.subset(20, 3).unwrap(), a);
        assert_ne!(ds.subset(20, 4).unwrap(), a);
        assert!(ds.subset(0, 0).is_err());
        assert!(ds.subset(51, 0).is_err());
        assert_eq!(ds.subset(50, 0).unwrap(), ds);
    }

    #[test]
    fn class_counts_sum_to_len() {
        assert_eq!(numbered(7).class_counts(), vec![3, 2, 2]);
    }
}
