//! Stage `pruned`: physically remove the filters the previous stage zeroed, then fine-tune.

use std::time::Instant;

use fasterai::compress::prune::PrunePlan;
use fasterai::compress::StructError;
use fasterai::learn::{BatchInput, Classifier};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{epochs, CLASSES};
use super::story::Story;

/// The stage name of the pruned model in the report.
pub const PRUNED: &str = "pruned";

/// The plan's file name in the output directory.
pub const PLAN_FILE: &str = "prune_plan.json";

const EXPLANATION: &str = "Pruned: the all-zero filters are cut out of the network for real. Each \
    convolution keeps only its live filters, and every layer that read the removed channels (the \
    BatchNorm after it, the next convolution, the first fully connected layer) loses the matching \
    inputs. The new, narrower model is a different Rust type, checked by the compiler; it is fine-tuned \
    briefly so the remaining filters settle.";

/// Builds the plan of `model`'s exactly-zero filters (`PrunePlan::from_model`), converts `model`
/// into the narrower type `P` with `convert` (the `from_source` that `compress!` generated for a
/// `prune(...)` block), fine-tunes it with `fit(finetune_epochs, finetune_lr)` and records the
/// `pruned` row. The plan is saved beside the report as [`PLAN_FILE`].
pub fn prune<M, P, X>(
    story: &mut Story<X>,
    model: M,
    name: &str,
    convert: impl FnOnce(&M, &PrunePlan) -> Result<P, StructError>,
) -> Result<P, StageError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
    P: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let plan = PrunePlan::from_model(&model).stage(PRUNED)?;
    println!("The zero filters found, layer by layer:\n{plan}");
    plan.save(story.output_file(PLAN_FILE).stage(PRUNED)?).stage(PRUNED)?;
    let mut learn = story.learner_on_converted(PRUNED, model, name, |model| convert(model, &plan))?;
    let (n, lr) = (story.settings().finetune_epochs, story.settings().finetune_lr);
    println!("Fine-tuning for {} at a constant learning rate of {lr}:", epochs(n));
    let start = Instant::now();
    let history = learn.fit(n, lr).stage(PRUNED)?;
    story.add_training(PRUNED, history, start.elapsed());
    story.record(PRUNED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
