//! The walkthrough's stages, one file each, and what they share.
//!
//! A stage takes the previous stage's model, changes or trains it, and ends with
//! [`Story::record`]: one more report row (parameters, size on disk, single-image latency,
//! validation accuracy, and a sentence saying what the stage did and why), the report and charts
//! rewritten under the output directory. It returns the new model for the next stage, or a
//! [`StageError`] naming itself. Structural stages take the conversion `compress!` generated
//! (`PrunedDigits::from_source`, ...) as an argument, so one function serves every model.
//!
//! The full story, in order, is [`STORY`]; a new stage slots in as one more file and one more call in `main.rs`.

pub mod baseline;
pub mod distill;
pub mod error;
pub mod factorize;
pub mod fold;
pub mod measuring;
pub mod prune;
pub mod quantize;
pub mod recap;
pub mod settings;
pub mod sparsify;
pub mod story;
pub mod teacher;

pub use baseline::{baseline, BASELINE, REFERENCE};
pub use distill::{distill, DISTILLED};
pub use error::{InStage, StageError};
pub use factorize::{factorize, FACTORIZED};
pub use fold::{fold, FOLDED};
pub use measuring::epochs;
pub use prune::{prune, PLAN_FILE, PRUNED};
pub use recap::recap_text;
pub use settings::{load_data, DatasetChoice, Settings};
pub use sparsify::{sparsify, SPARSIFIED};
pub use quantize::{accelerate, quantize, ACCELERATED, QUANTIZED};
pub use story::{wrap, Story, SPARSITY_CHART, STAGES_CHART};
pub use teacher::{teacher, TEACHER};


/// Every stage of the full story, in order.
pub const STORY: [&str; 9] =
    [BASELINE, TEACHER, DISTILLED, SPARSIFIED, PRUNED, FOLDED, FACTORIZED, QUANTIZED, ACCELERATED];
