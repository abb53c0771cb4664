//! Datasets and loaders.
//!
//! A [`Dataset`] holds normalised `f32` images (row-major `C×H×W` per sample) and their labels;
//! [`DataLoaders`] pairs a training and a validation set and cuts them into [`Batch`]es, shuffled
//! from a seed each epoch.
//!
//! Sources: [`digits`] (8×8, embedded, needs nothing but cargo) and MNIST-style IDX directories
//! ([`mnist_dir`], [`fashion_mnist_dir`], [`idx_dir`]) filled by `scripts/fetch-data.sh`.

mod dataset;
mod digits;
mod error;
mod idx;
mod loader;
mod normalization;
mod split;

pub use dataset::Dataset;
pub use digits::{
    digits, digits_normalization, DIGITS_CLASSES, DIGITS_PIXEL_MAX, DIGITS_SAMPLES, DIGITS_SHAPE,
};
pub use error::DataError;
pub use idx::{
    fashion_mnist_dir, idx_dir, mnist_dir, read_idx_images, read_idx_labels, IdxImages, IDX_CLASSES,
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC,
};
pub use loader::{Batch, DataLoaders};
pub use normalization::Normalization;
pub use split::ValidSplit;
