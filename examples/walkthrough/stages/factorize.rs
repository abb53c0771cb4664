//! Stage `factorized`: replace the big fully connected layer by two thin ones, then fine-tune.

use std::time::Instant;

use fasterai::compress::StructError;
use fasterai::learn::{BatchInput, Classifier};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{epochs, CLASSES};
use super::story::Story;

/// The stage name of the factorized model in the report.
pub const FACTORIZED: &str = "factorized";

const EXPLANATION: &str = "Factorized: the first fully connected layer holds most of the weights. Its \
    weight matrix is approximated by the product of two thin matrices (a truncated SVD keeping half of \
    its rank), so one wide layer becomes two narrow ones with far fewer weights in total. The \
    approximation loses a little, so the model is fine-tuned for one short cycle.";

/// Converts `model` into the type `F` whose large Linear is split in two, with `convert` (the
/// `from_source` that `compress!` generated for a `factorize(...)` block), fine-tunes it with
/// `fit_one_cycle(1, finetune_lr)` and records the `factorized` row.
pub fn factorize<M, F, X>(
    story: &mut Story<X>,
    model: M,
    name: &str,
    convert: impl FnOnce(&M) -> Result<F, StructError>,
) -> Result<F, StageError>
where
    F: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let mut learn = story.learner_on_converted(FACTORIZED, model, name, convert)?;
    let lr = story.settings().finetune_lr;
    println!("Fine-tuning for {} with the one-cycle schedule peaking at {lr}:", epochs(1));
    let start = Instant::now();
    let history = learn.fit_one_cycle(1, lr).stage(FACTORIZED)?;
    story.add_training(FACTORIZED, history, start.elapsed());
    story.record(FACTORIZED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
