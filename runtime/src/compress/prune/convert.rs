//! The last step of structured pruning, for any pruned type: [`FromPrunePlan`], which `compress!`
//! implements for every type whose schedule prunes (its `from_source(&model, &plan)`), and
//! [`PrunePlan::convert`], which calls it.

use super::plan::PrunePlan;
use crate::compress::StructError;

/// A model type built from a `Source` model and a [`PrunePlan`]: each prunable layer keeps the
/// output channels the plan lists, with the BatchNorm entries after it and its consumer's inputs.
///
/// `compress!` implements it for every generated type whose schedule prunes, as a call of that
/// type's own `from_source(&source, &plan)`, so generic code can finish a pruning whatever the type.
pub trait FromPrunePlan<Source>: Sized {
    /// Builds the pruned model. Errors when a layer's kept count differs from its width in `Self`.
    fn from_prune_plan(source: &Source, plan: &PrunePlan) -> Result<Self, StructError>;
}

impl PrunePlan {
    /// Converts `source` into the pruned type `P` with this plan (see [`FromPrunePlan`]):
    /// `plan.convert::<Pruned, _>(&model)` is `Pruned::from_source(&model, &plan)`.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::{FromPrunePlan, PrunePlan};
    /// use fasterai_runtime::compress::StructError;
    /// /// Finishes pruning `model` into any pruned type generated for it.
    /// fn finish<P: FromPrunePlan<M>, M>(model: &M, plan: &PrunePlan) -> Result<P, StructError> {
    ///     plan.convert::<P, M>(model)
    /// }
    /// ```
    pub fn convert<P: FromPrunePlan<S>, S>(&self, source: &S) -> Result<P, StructError> {
        P::from_prune_plan(source, self)
    }
}
