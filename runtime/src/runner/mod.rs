//! The top floor of the runtime: what `compress!`'s generated `compress` method runs, and the
//! measuring of a stage (it uses every floor below: learner, passes, plans, measuring tools).
//!
//! What `compress!`'s generated `compress` method runs: each stage of the block, in order, through
//! the [`Learner`](crate::learn::Learner), measuring the model after each one.
//!
//! [`spec`] turns the stages as written into typed settings before any training starts.

mod run;
pub mod spec;
mod stage;

pub use run::{parse_stages, Compressed, Runner, CALIBRATION_IMAGES};
pub use spec::{ArgValue, DistillSpec, PruneSpec, SparsifySpec, Stage, StageArg, StageSpec, Training};
pub use stage::{measure_plan, measure_stage, single_image_latency, StageMeasureError, STAGE_LATENCY_RUNS};
