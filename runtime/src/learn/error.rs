//! Errors of training.

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    /// The loss became NaN or infinite.
    #[error("the loss became {value} at epoch {epoch}, batch {batch}; lower the learning rate or check the data")]
    NonFiniteLoss {
        /// The loss value.
        value: f32,
        /// Epoch index, from 0.
        epoch: usize,
        /// Batch index within the epoch, from 0.
        batch: usize,
    },
}
