//! The learner: fit a model on [`crate::data::DataLoaders`], with callbacks and metrics.

mod error;

pub use error::LearnError;
