//! The vocabulary of fasterai's `compress!` blocks, in one place.
//!
//! `fasterai-macros` checks a block at compile time and `fasterai-runtime` turns the same block
//! into typed settings at run time; both read the names from this crate, so a stage, an option or
//! a value name cannot be known to one and unknown to the other. The crate has no dependencies.
//!
//! - [`STAGES`]: every stage, the options it takes and the kind of value each option takes;
//! - [`CRITERIA`], [`SCHEDULES`], [`GRANULARITIES`], [`CONTEXTS`]: the word values of `sparsify`
//!   and `prune`;
//! - [`LOSSES`]: the distillation losses, what they compare and their parameters with ranges;
//! - [`pairs`]: the grammar of `distill(pairs = "student_tap -> teacher_tap, ..")`.
//!
//! ```
//! use fasterai_vocab::{stage, OptionValue, CRITERIA};
//!
//! let sparsify = stage("sparsify").unwrap();
//! assert!(sparsify.takes_ratio);
//! assert_eq!(sparsify.option("criteria").unwrap().value, OptionValue::Word(&CRITERIA));
//! assert!(CRITERIA.contains("large_final"));
//! assert!(CRITERIA.list().starts_with("random, large_final"));
//! ```
#![warn(missing_docs)]

mod losses;
pub mod pairs;
mod stages;
mod words;

pub use losses::{loss, losses_comparing, Compares, Loss, LossParam, ParamRange, ALPHA, LOSSES};
pub use pairs::{parse_pairs, PairSyntaxError, PAIRS_FORM};
pub use stages::{stage, stage_names, OptionValue, StageInfo, StageOption, STAGES};
pub use words::{Words, CONTEXTS, CRITERIA, GRANULARITIES, LINEAR_GRANULARITIES, SCHEDULES};
