//! The learner: fit a model on [`crate::data::DataLoaders`], with callbacks and metrics.
//!
//! - [`Learner`] holds a model, the data, an optimizer ([`OptimizerConfig`], fastai's Adam by
//!   default), the loss (cross-entropy from labels) and metrics ([`AccuracyMetric`] always, more through
//!   [`Metric`]); [`Learner::fit`] trains at a constant learning rate, [`Learner::fit_one_cycle`]
//!   with fastai's one-cycle policy ([`OneCycle`]).
//! - [`Callback`] hooks into every stage of the loop; decisions come back as values ([`Control`]).
//! - Each fit prints the epoch table and returns it as a [`History`].
//! - A model's input kind is its batch shape, any [`BatchInput`]; the model itself any [`Classifier`].

mod callback;
mod classifier;
mod error;
mod finite;
mod fit;
mod fraction;
mod history;
mod input;
mod learner;
mod loss;
pub mod metric;
mod optimizer;
mod output;
pub mod lr_schedule;

pub use callback::{Callback, Context, Control, Forward, TapedLoss};
pub use classifier::Classifier;
pub use error::{BoxedError, LearnError};
pub use fraction::Fraction;
pub use history::{format_mm_ss, EpochRecord, History};
pub use input::BatchInput;
pub use learner::{Learner, Prediction, Validation};
pub use loss::{cross_entropy, one_hot};
pub use metric::{AccuracyMetric, Metric, MetricValue};
pub use optimizer::OptimizerConfig;
pub use output::Output;
pub use lr_schedule::{Hyper, LrSchedule, OneCycle};
