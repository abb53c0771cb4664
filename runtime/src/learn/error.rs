//! Errors of training.

use std::error::Error as StdError;

/// A boxed error from outside the learner (a model's forward pass, a callback's own work).
pub type BoxedError = Box<dyn StdError + Send + Sync + 'static>;

/// What can go wrong while training, validating or predicting.
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
    /// A gradient became NaN or infinite while the loss was finite (checked before each step).
    #[error(
        "the gradient of `{tensor}` became {value} (at index {index}) at epoch {epoch}, batch {batch}, with a \
         finite loss of {loss}; the optimizer did not step. Lower the learning rate, or look for extreme \
         values in the data or the model's weights"
    )]
    NonFiniteGradient {
        /// The tensor's name in the model (`conv1.weight`).
        tensor: String,
        /// Flat index of the first bad value.
        index: usize,
        /// That value.
        value: f32,
        /// The batch's loss.
        loss: f32,
        /// Epoch index, from 0.
        epoch: usize,
        /// Batch index within the epoch, from 0.
        batch: usize,
    },
    /// A weight or BatchNorm statistic became NaN or infinite (checked at the end of each epoch).
    #[error(
        "`{tensor}` holds {value} (at index {index}) after epoch {epoch}, batch {batch}; training diverged. \
         Lower the learning rate, check the data for extreme values, or reload the weights"
    )]
    NonFiniteWeight {
        /// The tensor's name in the model (`bn1.running_var`).
        tensor: String,
        /// Flat index of the first bad value.
        index: usize,
        /// That value.
        value: f32,
        /// Epoch index, from 0.
        epoch: usize,
        /// The last batch of that epoch, from 0.
        batch: usize,
    },
    /// A learning rate that is not a finite positive number.
    #[error("learning rate {lr} is not a finite number above 0; pass e.g. 1e-3")]
    InvalidLearningRate {
        /// The rejected value.
        lr: f64,
    },
    /// A momentum (Adam's β1) outside `[0, 1)`.
    #[error("momentum {momentum} is outside [0, 1); fastai's one-cycle uses 0.95, 0.85, 0.95")]
    InvalidMomentum {
        /// The rejected value.
        momentum: f64,
    },
    /// The training or validation set holds no sample.
    #[error("the {which} set is empty; give the DataLoaders at least one {which} sample")]
    EmptyDataset {
        /// `"training"` or `"validation"`.
        which: &'static str,
    },
    /// The data's images do not have the size the model's input type asks for.
    #[error("the model takes inputs of {expected} but the images are {found:?} (C, H, W); build the model for this data or reshape the data")]
    InputShape {
        /// What the model's input type asks for, in words.
        expected: String,
        /// `[C, H, W]` of the data's images.
        found: [usize; 3],
    },
    /// A label is not below the model's number of outputs.
    #[error("label {label} does not fit a model with {outputs} outputs; the model needs one output per class")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// The model's number of logits.
        outputs: usize,
    },
    /// The number of input values is not a whole number of images.
    #[error("{values} values are not a whole number of images of {per_image} values each")]
    RaggedImages {
        /// Number of values given.
        values: usize,
        /// Number of values of one image.
        per_image: usize,
    },
    /// The model's forward pass failed.
    #[error("the model's forward pass failed: {0}")]
    Model(#[source] BoxedError),
    /// A tensor could not be allocated or filled on the device.
    #[error("the device failed: {0}")]
    Device(#[from] dfdx::tensor::CpuError),
    /// A callback needs the model's `#[tap]` activations but the learner was not built with taps.
    #[error("callback `{callback}` needs the model's #[tap] activations; build the learner with `Learner::with_taps()` (the model must implement TappedForward, as #[derive(Compressible)] does for models with #[tap] fields)")]
    TapsRequired {
        /// The callback's name.
        callback: String,
    },
    /// A callback failed.
    #[error("callback `{callback}` failed: {source}")]
    Callback {
        /// The callback's name.
        callback: String,
        /// What went wrong inside it.
        #[source]
        source: BoxedError,
    },
}

impl LearnError {
    /// Wraps an error raised inside a callback, naming the callback.
    ///
    /// ```
    /// use fasterai_runtime::learn::LearnError;
    /// let e = LearnError::callback("distill", std::io::Error::other("teacher failed"));
    /// assert_eq!(e.to_string(), "callback `distill` failed: teacher failed");
    /// ```
    pub fn callback(name: impl Into<String>, source: impl Into<BoxedError>) -> Self {
        Self::Callback { callback: name.into(), source: source.into() }
    }
}
