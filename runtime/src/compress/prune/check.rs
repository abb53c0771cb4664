//! The run-time check of a plan against the model it converts and the pruned type it builds.

use super::plan::PrunePlan;
use super::select::check_kept;
use crate::compress::PruneError;

/// One prunable layer as a conversion sees it: its name, its width in the source model and its
/// width in the pruned type.
pub type ConversionLayer<'a> = (&'a str, usize, usize);

impl PrunePlan {
    /// Checks that this plan converts a model into the pruned type `target_type`, given every
    /// prunable layer as `(name, width in the model, width in the pruned type)`, in model order.
    /// The generated `from_source` calls it before copying anything, so a plan made for another
    /// model is refused instead of copying the wrong filters:
    ///
    /// - every layer of the plan exists in the model, with the width the plan recorded;
    /// - every layer the pruned type narrows has an entry (a layer without one stays whole);
    /// - each entry's kept indices are in range, sorted and unique, and as many as the layer's
    ///   width in the pruned type.
    ///
    /// The error names the first disagreement (layer, expected, found) and what to do.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::{LayerPlan, PrunePlan};
    /// let plan = PrunePlan::new(vec![LayerPlan { name: "conv2".into(), width: 64, kept: vec![0, 5] }])?;
    /// plan.check_conversion("Narrow", &[("conv1", 32, 32), ("conv2", 64, 2)])?;
    /// let e = plan.check_conversion("Narrow", &[("conv1", 32, 32), ("conv2", 32, 2)]).unwrap_err();
    /// assert!(e.to_string().contains("made for a model where `conv2` has 64 filters"));
    /// # Ok::<(), fasterai_runtime::compress::PruneError>(())
    /// ```
    pub fn check_conversion(&self, target_type: &str, layers: &[ConversionLayer<'_>]) -> Result<(), PruneError> {
        if self.layers().is_empty() {
            return Err(PruneError::EmptyPlan);
        }
        for planned in self.layers() {
            match layers.iter().find(|&&(name, _, _)| name == planned.name) {
                None => {
                    return Err(PruneError::UnknownLayer {
                        layer: planned.name.clone(),
                        valid: layers.iter().map(|&(name, _, _)| name.to_string()).collect(),
                    })
                }
                Some(&(_, width, _)) if width != planned.width => {
                    return Err(PruneError::PlanForAnotherModel {
                        layer: planned.name.clone(),
                        plan_width: planned.width,
                        model_width: width,
                    })
                }
                Some(_) => {}
            }
        }
        for &(name, width, new_width) in layers {
            match self.get(name) {
                None if new_width != width => {
                    return Err(PruneError::MissingLayer {
                        layer: name.to_string(),
                        width,
                        pruned_type: target_type.to_string(),
                        declared: new_width,
                    })
                }
                None => {}
                Some(planned) => {
                    check_kept(name, &planned.kept, width)?;
                    if planned.kept.len() != new_width {
                        return Err(PruneError::PlanTypeMismatch {
                            layer: name.to_string(),
                            kept: planned.kept.len(),
                            pruned_type: target_type.to_string(),
                            declared: new_width,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::prune::LayerPlan;

    fn layer(name: &str, width: usize, kept: &[usize]) -> LayerPlan {
        LayerPlan { name: name.into(), width, kept: kept.to_vec() }
    }

    /// conv1 32 → 32 (whole), conv2 64 → 3, fc1 16 → 2.
    const LAYERS: [ConversionLayer<'static>; 3] = [("conv1", 32, 32), ("conv2", 64, 3), ("fc1", 16, 2)];

    #[test]
    fn a_matching_plan_passes() {
        let plan = PrunePlan::new(vec![layer("conv2", 64, &[0, 9, 63]), layer("fc1", 16, &[3, 4])]).unwrap();
        plan.check_conversion("Narrow", &LAYERS).unwrap();
        // A layer the type keeps whole may also be listed with every channel.
        let all: Vec<usize> = (0..32).collect();
        let plan =
            PrunePlan::new(vec![layer("conv1", 32, &all), layer("conv2", 64, &[1, 2, 3]), layer("fc1", 16, &[0, 1])])
                .unwrap();
        plan.check_conversion("Narrow", &LAYERS).unwrap();
    }

    #[test]
    fn each_disagreement_is_named_with_what_to_do() {
        let cases = [
            // Same names, another model: conv2 had 32 filters there.
            (
                vec![layer("conv2", 32, &[0, 1, 2]), layer("fc1", 16, &[0, 1])],
                "this plan was made for a model where `conv2` has 32 filters, but this model's `conv2` has 64; \
                 make the plan from this model (PrunePlan::from_model or PrunePlan::from_criterion), or pick the \
                 plan file that matches it",
            ),
            (
                vec![layer("conv9", 8, &[0]), layer("conv2", 64, &[0, 1, 2])],
                "names `conv9`, which is not a prunable layer of the model; valid names: conv1, conv2, fc1",
            ),
            (
                vec![layer("conv2", 64, &[0, 1, 2])],
                "the prune plan has no entry for `fc1`, but `Narrow` gives `fc1` 2 of its 16 channels",
            ),
            (
                vec![layer("conv2", 64, &[0, 1]), layer("fc1", 16, &[0, 1])],
                "the prune plan keeps 2 channels of `conv2`, but `Narrow` gives `conv2` 3",
            ),
            (
                vec![layer("conv1", 32, &[0]), layer("conv2", 64, &[0, 1, 2]), layer("fc1", 16, &[0, 1])],
                "the prune plan keeps 1 channels of `conv1`, but `Narrow` gives `conv1` 32",
            ),
        ];
        for (layers, needle) in cases {
            let plan = PrunePlan::new(layers).unwrap();
            let message = plan.check_conversion("Narrow", &LAYERS).unwrap_err().to_string();
            assert!(message.contains(needle), "{message}\n(wanted {needle})");
        }
    }

    #[test]
    fn the_first_disagreement_in_model_order_is_reported() {
        // conv2 and fc1 are both wrong; conv2 comes first in the model.
        let plan = PrunePlan::new(vec![layer("fc1", 16, &[0]), layer("conv2", 64, &[0])]).unwrap();
        let message = plan.check_conversion("Narrow", &LAYERS).unwrap_err().to_string();
        assert!(message.contains("`conv2`") && !message.contains("`fc1`"), "{message}");
    }

    #[test]
    fn kept_indices_are_checked_against_the_model_width() {
        // An entry whose recorded width is wrong is refused by the width check; one built by hand
        // with indices past the model's width cannot exist (PrunePlan::new checks them), so the
        // remaining case is an index that is valid for the plan but not the type's count.
        let plan = PrunePlan::new(vec![layer("conv2", 64, &[0, 1, 2, 3]), layer("fc1", 16, &[0, 1])]).unwrap();
        let message = plan.check_conversion("Narrow", &LAYERS).unwrap_err().to_string();
        assert!(message.contains("keeps 4 channels of `conv2`"), "{message}");
    }

    #[test]
    fn an_empty_plan_is_an_error() {
        let message = PrunePlan::new(vec![]).unwrap_err().to_string();
        assert!(message.contains("the prune plan lists no layer"), "{message}");
        let text = r#"{"format":"fasterai-prune-plan","version":1,"layers":[]}"#;
        let message = PrunePlan::from_json(text, std::path::Path::new("p.json")).unwrap_err().to_string();
        assert!(message.contains("`p.json` is inconsistent: the prune plan lists no layer"), "{message}");
    }
}
