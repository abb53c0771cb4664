//! Loading an MNIST-style directory: four IDX files into a (train, valid) pair of datasets.

use std::path::Path;

use super::reader::{find_idx_file, read_idx_images, read_idx_labels};
use crate::data::{DataError, Dataset, Normalization};

/// Classes of MNIST and Fashion-MNIST.
pub const IDX_CLASSES: usize = 10;
/// Largest raw pixel value of an IDX image.
const PIXEL_MAX: f32 = 255.0;

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Loads an MNIST-style directory as (train, valid) datasets of shape `[1, rows, cols]`, 10 classes.
///
/// The directory holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
/// and `t10k-labels-idx1-ubyte`, each raw or with a `.gz` suffix (the raw one wins when both exist).
/// The `t10k` files become the validation set. Pixels are divided by 255, then normalised with `norm`.
///
/// Every file is checked (magic number, announced size, counts, labels below 10); any problem is an
/// error naming the file, never a shorter dataset.
pub fn idx_dir(dir: impl AsRef<Path>, norm: Normalization) -> Result<(Dataset, Dataset), DataError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(DataError::MissingDir { path: dir.to_path_buf() });
    }
    // Look for all four files before reading any, so a missing one is reported at once.
    let paths = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS].map(|stem| find_idx_file(dir, stem));
    let [train_images, train_labels, test_images, test_labels] = paths;
    let (train_images, train_labels) = (train_images?, train_labels?);
    let (test_images, test_labels) = (test_images?, test_labels?);
    let train = load_pair(&train_images, &train_labels, norm)?;
    let valid = load_pair(&test_images, &test_labels, norm)?;
    if train.shape() != valid.shape() {
        return Err(DataError::ShapeMismatch { train: train.shape(), test: valid.shape() });
    }
    Ok((train, valid))
}

/// [`idx_dir`] with MNIST's statistics ([`Normalization::MNIST`]).
///
/// ```no_run
/// let (train, valid) = fasterai_runtime::data::mnist_dir("data/mnist")?;
/// assert_eq!((train.len(), valid.len()), (60_000, 10_000));
/// # Ok::<(), fasterai_runtime::data::DataError>(())
/// ```
pub fn mnist_dir(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
    idx_dir(dir, Normalization::MNIST)
}

/// [`idx_dir`] with Fashion-MNIST's statistics ([`Normalization::FASHION_MNIST`]).
///
/// ```no_run
/// let (train, valid) = fasterai_runtime::data::fashion_mnist_dir("data/fashion-mnist")?;
/// assert_eq!(train.shape(), [1, 28, 28]);
/// # Ok::<(), fasterai_runtime::data::DataError>(())
/// ```
pub fn fashion_mnist_dir(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
    idx_dir(dir, Normalization::FASHION_MNIST)
}

/// Reads one image file and its label file into a normalised dataset.
pub(super) fn load_pair(
    images_path: &Path,
    labels_path: &Path,
    norm: Normalization,
) -> Result<Dataset, DataError> {
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::IdxCountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    if let Some(index) = labels.iter().position(|&l| usize::from(l) >= IDX_CLASSES) {
        return Err(DataError::IdxLabelOutOfRange {
            path: labels_path.to_path_buf(),
            index,
            label: labels[index],
            num_classes: IDX_CLASSES,
        });
    }
    // One table lookup per pixel: the 256 possible values, already scaled and normalised.
    let table: Vec<f32> = (0..=255u8).map(|p| norm.apply(f32::from(p) / PIXEL_MAX)).collect();
    let pixels = images.pixels.iter().map(|&p| table[usize::from(p)]).collect();
    let labels = labels.into_iter().map(usize::from).collect();
    Dataset::new(pixels, labels, [1, images.rows, images.cols], IDX_CLASSES)
}
