//! Stage `sparsified`: zero half of each convolution's filters while training, on a cosine schedule.

use std::time::Instant;

use fasterai::compress::sparsify::{Context, ConvGranularity, Criteria, Criterion, Granularity};
use fasterai::learn::{BatchInput, Classifier, LrSchedule};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{epochs, CLASSES};
use super::story::Story;

/// The stage name of the sparsified model in the report.
pub const SPARSIFIED: &str = "sparsified";

/// The share of each convolution's filters zeroed by the end of the stage, in percent.
pub const FILTER_SPARSITY_PERCENT: f64 = 50.0;

const EXPLANATION: &str = "Sparsified: while the student keeps training, half of each convolution's \
    filters (those with the smallest weights) are set to zero, a little more after every batch along a \
    cosine curve, so the network adapts as they go; the zeroed filters' bias and BatchNorm scale and \
    shift are zeroed too, so those channels output exactly 0. Nothing is removed yet, so size and speed \
    do not change: zeros are stored and multiplied like any other number. Each layer keeps exactly half \
    (local ranking) so the pruned model's widths are known when the program is compiled; \
    examples/global_plan shows the global ranking, whose widths come from a plan file.";

/// Fine-tunes `model` with the settings' fine-tuning epochs and constant rate under a
/// [`SparsifyCallback`] (filters, local, large_final, cos, [`FILTER_SPARSITY_PERCENT`]), prints
/// the per-layer sparsity, feeds the sparsity chart and records the `sparsified` row.
pub fn sparsify<M, X>(story: &mut Story<X>, model: M) -> Result<M, StageError>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let target = Sparsity::from_percent(FILTER_SPARSITY_PERCENT).stage(SPARSIFIED)?;
    let sparsifier = Sparsifier::new(
        target,
        Granularity::Conv(ConvGranularity::Filter),
        Context::Local,
        Criteria::new(Criterion::LargeFinal),
    );
    let mut callback =
        SparsifyCallback::<M>::new(sparsifier, SparsitySchedule::cos()).stage(SPARSIFIED)?.with_output(story.settings().output);
    let mut learn = story.learner(model);
    let (n, lr) = (story.settings().finetune_epochs, story.settings().finetune_lr);
    println!("Training for {} at a constant rate of {lr} while the filters are zeroed:", epochs(n));
    let start = Instant::now();
    let history = learn.fit_with(n, LrSchedule::Constant { lr }, &mut [&mut callback]).stage(SPARSIFIED)?;
    story.add_training(SPARSIFIED, history, start.elapsed());
    let layers: Vec<(String, f64)> =
        callback.report().layers.iter().map(|l| (l.name.clone(), l.sparsity().percent())).collect();
    for (layer, percent) in &layers {
        println!("  Sparsity in {layer}: {percent:.2}%");
    }
    story.set_sparsity(layers);
    story.record(SPARSIFIED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
