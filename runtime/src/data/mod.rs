//! Datasets and loaders.
//!
//! A [`Dataset`] holds normalised `f32` images (row-major `C×H×W` per sample) and their labels;
//! [`DataLoaders`] pairs a training and a validation set and cuts them into [`Batch`]es, shuffled
//! from a seed each epoch.

mod dataset;
mod error;
mod loader;

pub use dataset::Dataset;
pub use error::DataError;
pub use loader::{Batch, DataLoaders};
