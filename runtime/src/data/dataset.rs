//! An in-memory labelled image set.

use super::DataError;

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
    /// Builds a dataset, checking that there is one label per image and every label is a class.
    pub fn new(
        images: Vec<f32>,
        labels: Vec<usize>,
        shape: [usize; 3],
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let per = shape.iter().product::<usize>().max(1);
        let n_images = images.len() / per;
        if images.len() % per != 0 || n_images != labels.len() {
            return Err(DataError::CountMismatch { images: n_images, labels: labels.len() });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
            return Err(DataError::LabelOutOfRange { label, index, num_classes });
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
}
