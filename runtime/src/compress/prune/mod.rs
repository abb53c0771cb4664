//! Structured pruning: physically remove output channels (filters) and rewire every layer that
//! read them.
//!
//! Zeroing filters (sparsification) saves nothing at run time; removing them does. A removed
//! output channel `c` of a layer must disappear from every coupled tensor:
//!
//! 1. the layer's weight rows and bias entries ([`select_conv_out`], [`select_linear_out`]);
//! 2. the entries of the BatchNorm after it: γ, β, running mean and variance
//!    ([`select_batchnorm2d`], [`select_batchnorm1d`]);
//! 3. the consumer's inputs: the next conv's input channels ([`select_conv_in`]), or the first
//!    Linear after a Flatten, where channel `c` owns the `H·W` columns `c·H·W .. (c+1)·H·W`
//!    ([`select_linear_in`] with `group_len = H·W`).
//!
//! The derive macro knows these couplings from the struct and generates the calls; the typed
//! wrappers return tensors of the new widths, so rustc checks that every rewired shape fits. All
//! of them copy with [`select_groups`] on plain slices, and check the kept indices: as many as the
//! new width, strictly increasing, within the original width.
//!
//! Which indices to keep is a [`PrunePlan`]: built from the filters that are exactly zero after
//! filter sparsification ([`PrunePlan::from_zero_filters`]), or by ranking filters by L1 norm per
//! layer or across layers ([`PrunePlan::from_scores`], see [`Ranking`]).
//!
//! While fine-tuning, [`PruneCallback`] zeroes filters along a schedule and makes the plan of the
//! zero filters when training ends; [`PrunePlan::convert`] finishes with any pruned type
//! `compress!` generated ([`FromPrunePlan`]).
//!
//! # Plan file format
//!
//! Widths that only training decides (zero filters, global ranking) reach the compiler through a
//! JSON file: [`PrunePlan::save`] writes it (atomically), `compress! { .. prune(plan = "path") .. }`
//! reads it at compile time to size the new type, and the generated conversion loads it again
//! with [`PrunePlan::load`] to copy the kept channels. Format (version 1):
//!
//! ```json
//! {
//!   "format": "fasterai-prune-plan",
//!   "version": 1,
//!   "layers": [
//!     { "name": "conv1", "width": 32, "kept": [0, 1, 4, 7] },
//!     { "name": "conv3", "width": 64, "kept": [2, 3, 5] }
//!   ]
//! }
//! ```
//!
//! - `format`, `version`: fixed strings/numbers; another value is an error naming both.
//! - `layers`: in model order; at least one; each prunable layer at most once; a layer not listed
//!   keeps all its channels (so the pruned type must keep it whole).
//! - `name`: the layer's field name in the model struct; `width`: its output channels before
//!   pruning (checked against the model at conversion, so a plan made for another model with
//!   the same layer names is refused, see [`PrunePlan::check_conversion`]);
//!   `kept`: the output channels kept, strictly increasing, each below `width`, at least one.
//!   The new width is `kept.len()`.
//! - No other field is accepted.
//!
//! ```
//! use fasterai_runtime::compress::prune::{LayerFilters, PrunePlan, Ranking};
//! use fasterai_runtime::units::Ratio;
//! # let dir = std::env::temp_dir().join(format!("fasterai-doc-plan-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let weight = [0.5, -0.1, 0.0, 0.0, 2.0, 1.0, 0.3, 0.3]; // conv1: 4 filters of 2 weights
//! let layers = [LayerFilters { name: "conv1", width: 4, weight: &weight, bias: None, bn: None }];
//! let plan = PrunePlan::from_scores(&layers, Ranking::Local, Ratio::from_percent(50.0)?, 1)?;
//! assert_eq!(plan.kept("conv1"), Some(&[2, 3][..]));
//! let path = dir.join("plan.json");
//! plan.save(&path)?;
//! assert_eq!(PrunePlan::load(&path)?, plan);
//! println!("{plan}"); // conv1      4 → 2     (50.0% of the channels kept)
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), fasterai_runtime::Error>(())
//! ```

mod callback;
mod check;
mod convert;
mod filters;
mod from_model;
mod groups;
mod plan;
mod score;
mod select;
#[cfg(test)]
mod tests;

pub use callback::{PlanHandle, PruneCallback};
pub use check::ConversionLayer;
pub use convert::FromPrunePlan;
pub use filters::{BnAffine, FilterData, LayerFilters};
pub use groups::{coupled_groups, group_plans, in_model_order};
pub(crate) use groups::largest_scores;
pub use plan::{LayerPlan, PrunePlan, PLAN_FORMAT, PLAN_VERSION};
pub use score::{kept_width, Ranking};
pub use select::{
    check_kept, select_batchnorm1d, select_batchnorm2d, select_conv_in, select_conv_out,
    select_conv_weight_out, select_groups, select_linear_in, select_linear_out, select_vector, Groups,
};
