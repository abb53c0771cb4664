//! Errors of data loading.

use std::path::PathBuf;

/// How to get the IDX datasets, appended to every "not found" message.
const FETCH_HINT: &str = "run `scripts/fetch-data.sh` from the repository root to download MNIST and \
Fashion-MNIST into data/, or pass the directory that holds the IDX files";

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
    /// A pixel that is NaN or infinite: training on it would make the loss NaN.
    #[error(
        "sample {index} has pixel {pixel} = {value}, which is not a finite number; fix or drop that sample \
         (and check how the images were decoded or normalised) before building the dataset"
    )]
    NonFinitePixel {
        /// The sample's index.
        index: usize,
        /// The pixel's flat index within the sample (`c·H·W + y·W + x`).
        pixel: usize,
        /// The value.
        value: f32,
    },
    /// The dataset directory does not exist.
    #[error("dataset directory `{path}` does not exist or is not a directory; {FETCH_HINT}")]
    MissingDir {
        /// The directory asked for.
        path: PathBuf,
    },
    /// One of the four IDX files is missing from the directory.
    #[error("neither `{stem}` nor `{stem}.gz` is in `{dir}`; {FETCH_HINT}")]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file name without `.gz`, e.g. `train-images-idx3-ubyte`.
        stem: &'static str,
    },
    /// An IDX file starts with another magic number than its kind requires.
    #[error("`{path}` starts with magic number {found:#010x} but an IDX {kind} file starts with {expected:#010x}; \
             the file is not what its name says (images and labels swapped, or not an IDX file)")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// The number read.
        found: u32,
        /// The number required.
        expected: u32,
    },
    /// An IDX file ends before the size its header announces.
    #[error("`{path}` is truncated: its header announces {expected} bytes (after decompression) but it holds {found}; \
             delete it and fetch it again")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (header included).
        expected: u64,
        /// Bytes actually present (after decompression for `.gz`).
        found: u64,
    },
    /// An IDX file holds more bytes than its header announces.
    #[error(
        "`{path}` holds {found} bytes (after decompression) but its header announces {expected}; \
             the header or the file is corrupt, fetch it again"
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (header included).
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// An IDX file announces zero samples or zero-sized images.
    #[error(
        "`{path}` announces dimensions {dims:?}; a dataset needs at least one sample of at least one pixel"
    )]
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// The dimensions in its header.
        dims: Vec<u32>,
    },
    /// An image file and its label file disagree in count.
    #[error(
        "`{images_path}` holds {images} images but `{labels_path}` holds {labels} labels; \
             the two files come from different sets, fetch them again"
    )]
    IdxCountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels.
        labels: usize,
    },
    /// A label in an IDX label file is not a valid class.
    #[error("`{path}` has label {label} at sample {index}, outside the {num_classes} classes; the file is corrupt")]
    IdxLabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label read.
        label: u8,
        /// The number of classes.
        num_classes: usize,
    },
    /// Training and test images have different sizes.
    #[error("training images are {train:?} (C, H, W) but test images are {test:?}; both must come from the same set")]
    ShapeMismatch {
        /// Training image shape.
        train: [usize; 3],
        /// Test image shape.
        test: [usize; 3],
    },
    /// Reading a file failed.
    #[error("could not read `{path}`: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded digits set does not have the expected layout.
    #[error("the digits set embedded in smartcore has {samples} samples of {features} features (data {data_len} values, \
             {targets} labels) but 1797 samples of 64 features are expected; check the pinned smartcore version (=0.7.0)")]
    DigitsMalformed {
        /// Samples reported.
        samples: usize,
        /// Features per sample reported.
        features: usize,
        /// Length of the pixel vector.
        data_len: usize,
        /// Length of the label vector.
        targets: usize,
    },
    /// A value of the embedded digits set is not what the set promises (pixels 0..=16, labels 0..=9).
    #[error("the embedded digits set has {what} {value} at sample {index}; expected pixels in 0..=16 and integer labels 0..=9")]
    DigitsValue {
        /// `"pixel"` or `"label"`.
        what: &'static str,
        /// The value found.
        value: f32,
        /// Sample index.
        index: usize,
    },
    /// A validation share outside (0, 1), or one that leaves a split empty.
    #[error("{reason}")]
    BadSplit {
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// Normalisation statistics that cannot be used.
    #[error("normalisation needs a finite mean and a finite std > 0, got mean {mean} and std {std}")]
    BadNormalization {
        /// The mean given.
        mean: f32,
        /// The standard deviation given.
        std: f32,
    },
    /// A subset larger than the set, or empty.
    #[error(
        "cannot take a subset of {requested} samples from a set of {available}; ask for 1..={available}"
    )]
    BadSubset {
        /// Samples asked for.
        requested: usize,
        /// Samples in the set.
        available: usize,
    },
}

/// Lets `?` and generic conversions treat an infallible conversion (e.g. a [`super::ValidSplit`]
/// passed where one is built from a number) like any other.
impl From<std::convert::Infallible> for DataError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
