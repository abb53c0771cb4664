//! Stage `baseline`: train the model we want to deploy, as it is, and measure it.

use std::time::Instant;

use fasterai::learn::{BatchInput, Classifier};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{describe_model, epochs, measure, row_in_words, CLASSES};
use super::story::Story;

/// The stage name of the trained, uncompressed model in the report.
pub const BASELINE: &str = "baseline";

/// What the report's speed reference is: the baseline frozen into an fp32 plan, a fast float
/// model to judge every stage's speed by besides the trained model's own forward.
pub const REFERENCE: &str = "the baseline's fp32 plan";

const EXPLANATION: &str = "Baseline: the model we want to deploy, trained as it is. Every later stage \
    is compared with this row: the goal is a model that is much smaller and faster but about as accurate.";

/// Shows `model`'s layers, measures it untrained (printed, not recorded: chance accuracy), trains
/// it with the one-cycle schedule for the settings' epochs, records the `baseline` row, and times
/// the trained model frozen into an fp32 plan as the report's speed reference.
/// Returns the trained model.
pub fn baseline<M, X>(story: &mut Story<X>, name: &str, model: M) -> Result<M, StageError>
where
    M: Classifier<X, CLASSES> + Compressible + TensorCollection<f32, Cpu> + Send + Sync,
    X: BatchInput,
{
    println!("\n{}", describe_model::<M>(name));
    let mut learn = story.learner(model);

    println!("Measuring the untrained model (random weights: expect chance accuracy, about 10%)...");
    let untrained = measure("untrained", "random weights", &mut learn).stage(BASELINE)?;
    println!("  → {}\n", row_in_words(&untrained));

    let (n, lr) = (story.settings().epochs, story.settings().lr_max);
    println!(
        "Training for {} with the one-cycle schedule (learning rate warming up to {lr} then annealing):",
        epochs(n)
    );
    let start = Instant::now();
    let history = learn.fit_one_cycle(n, lr).stage(BASELINE)?;
    let time = start.elapsed();
    println!("Trained in {:.1} s.\n", time.as_secs_f64());
    story.add_training(BASELINE, history, time);

    story.record(BASELINE, EXPLANATION, &mut learn)?;
    let mut plan = fasterai::deploy::accelerate(learn.model()).stage(BASELINE)?;
    story.set_speed_reference(BASELINE, REFERENCE, &mut plan)?;
    Ok(learn.into_model())
}
