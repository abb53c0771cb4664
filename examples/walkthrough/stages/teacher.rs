//! Stage `teacher`: train a wider model whose knowledge the distillation stage passes on.

use std::time::Instant;

use fasterai::learn::{BatchInput, Classifier};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{describe_model, epochs, CLASSES};
use super::story::Story;

/// The stage name of the teacher in the report.
pub const TEACHER: &str = "teacher";

const EXPLANATION: &str = "Teacher: a wider copy of the baseline (more filters, a wider classifier), \
    trained the same way. It is too big to deploy; its job is to teach: in the distillation stage the \
    small model learns from the teacher's soft predictions, which say not only which class is right \
    but which wrong classes look alike.";

/// Trains `model`, the teacher, exactly like the baseline (one-cycle, the settings' epochs and
/// peak rate) and records the `teacher` row. Returns the trained teacher; the report keeps
/// comparing every row with the baseline, so this row shows what the extra width buys.
pub fn teacher<T, X>(story: &mut Story<X>, name: &str, model: T) -> Result<T, StageError>
where
    T: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    println!("{}", describe_model::<T>(name));
    let mut learn = story.learner(model);
    let (n, lr) = (story.settings().epochs, story.settings().teacher_lr);
    println!("Training the teacher for {} with the same one-cycle schedule:", epochs(n));
    let start = Instant::now();
    let history = learn.fit_one_cycle(n, lr).stage(TEACHER)?;
    let time = start.elapsed();
    println!("Trained in {:.1} s.\n", time.as_secs_f64());
    story.add_training(TEACHER, history, time);
    story.record(TEACHER, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}
