//! Errors of data loading.

/// What can go wrong while reading or assembling a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Images and labels disagree in count.
    #[error("{images} images but {labels} labels; the two must match")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not a valid class index.
    #[error("label {label} at sample {index} is outside the {num_classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// Its sample index.
        index: usize,
        /// The number of classes.
        num_classes: usize,
    },
}
