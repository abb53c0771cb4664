//! Stage `folded`: merge every BatchNorm into the convolution before it.

use fasterai::compress::StructError;
use fasterai::learn::{BatchInput, Classifier};
use fasterai::prelude::*;

use super::error::StageError;
use super::measuring::CLASSES;
use super::story::Story;

/// The stage name of the folded model in the report.
pub const FOLDED: &str = "folded";

const EXPLANATION: &str = "Folded: once training is over, a BatchNorm only scales and shifts each \
    channel by fixed numbers, and so does a convolution's weight and bias. Each BatchNorm is therefore \
    merged into the convolution before it and disappears: one layer fewer to run per block, the same \
    outputs (up to float rounding), no retraining.";

/// Converts `model` into the type `F` without BatchNorms, with `convert` (the `from_source` that
/// `compress!` generated for a `fold()` block), and records the `folded` row. No training: the
/// folded model computes what the model did in evaluation mode.
pub fn fold<M, F, X>(
    story: &mut Story<X>,
    model: M,
    name: &str,
    convert: impl FnOnce(&M) -> Result<F, StructError>,
) -> Result<F, StageError>
where
    F: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let mut learn = story.learner_on_converted(FOLDED, model, name, convert)?;
    story.record(FOLDED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
