//! Deciding which filters to keep: exactly-zero filters, or the lowest L1 scores per layer or
//! across layers.

use super::filters::LayerFilters;
use super::plan::{LayerPlan, PrunePlan};
use crate::compress::PruneError;
use crate::units::Ratio;

/// Where filters compete when ranked by score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    /// Each layer loses the same share of its filters, its lowest-scoring ones.
    Local,
    /// All layers compete in one ranking of normalised scores; each keeps at least the minimum
    /// width.
    Global,
}

/// The width a layer keeps when `ratio` of its `width` channels is removed:
/// `width − ⌊ratio·width⌋` (the product rounded to the nearest integer when within 1e-9 of it),
/// raised to `max(min_width, 1)` and never above `width`. The compress! macro sizes local
/// pruning with the same rule.
///
/// ```
/// use fasterai_runtime::compress::prune::kept_width;
/// use fasterai_runtime::units::Ratio;
/// let half = Ratio::from_percent(50.0).unwrap();
/// assert_eq!(kept_width(32, half, 1), 16);
/// assert_eq!(kept_width(5, half, 1), 3);
/// assert_eq!(kept_width(2, Ratio::FULL, 0), 1);  // never empty
/// assert_eq!(kept_width(4, Ratio::FULL, 8), 4);  // never wider than the layer
/// ```
pub fn kept_width(width: usize, ratio: Ratio, min_width: usize) -> usize {
    let floor = min_width.max(1).min(width);
    width.saturating_sub(removed_count(ratio, width)).max(floor)
}

fn removed_count(ratio: Ratio, count: usize) -> usize {
    let exact = ratio.fraction() * count as f64;
    let rounded = exact.round();
    (if (exact - rounded).abs() < 1e-9 { rounded } else { exact.floor() }) as usize
}

fn check_unique(layers: &[LayerFilters<'_>]) -> Result<(), PruneError> {
    for (k, layer) in layers.iter().enumerate() {
        if layers[..k].iter().any(|l| l.name == layer.name) {
            return Err(PruneError::DuplicateLayer { layer: layer.name.to_string() });
        }
    }
    Ok(())
}

impl PrunePlan {
    /// Keeps every filter that is not exactly zero. A filter is dropped when all its weights, its
    /// bias entry (if any) and the following BatchNorm's γ and β (if any) are exactly 0: its
    /// output after the BatchNorm is then 0 whatever the input, so removing it (and the inputs
    /// that read it) changes nothing. This is what filter-granularity sparsification leaves behind.
    /// Each layer keeps at least one filter (the first, if all are zero).
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::{BnAffine, LayerFilters, PrunePlan};
    /// let weight = [1.0, 2.0, 0.0, 0.0, 0.0, 0.0]; // 3 filters of 2 weights
    /// let bn = BnAffine { gamma: &[1.0, 0.0, 0.0], beta: &[0.0, 0.0, 0.5] };
    /// let layer = LayerFilters { name: "conv1", width: 3, weight: &weight, bias: None, bn: Some(bn) };
    /// let plan = PrunePlan::from_zero_filters(&[layer])?;
    /// // Filter 2 has zero weights but β = 0.5: its constant output is kept.
    /// assert_eq!(plan.kept("conv1"), Some(&[0, 2][..]));
    /// # Ok::<(), fasterai_runtime::compress::PruneError>(())
    /// ```
    pub fn from_zero_filters(layers: &[LayerFilters<'_>]) -> Result<Self, PruneError> {
        check_unique(layers)?;
        let mut plans = Vec::with_capacity(layers.len());
        for layer in layers {
            let per_filter = layer.check()?;
            let is_zero = |o: usize| {
                layer.row(o, per_filter).iter().all(|&w| w == 0.0)
                    && layer.bias.is_none_or(|b| b[o] == 0.0)
                    && layer.bn.is_none_or(|bn| bn.gamma[o] == 0.0 && bn.beta[o] == 0.0)
            };
            let mut kept: Vec<usize> = (0..layer.width).filter(|&o| !is_zero(o)).collect();
            if kept.is_empty() {
                kept.push(0);
            }
            plans.push(LayerPlan { name: layer.name.to_string(), width: layer.width, kept });
        }
        Self::new(plans)
    }

    /// Keeps the filters with the largest L1 norm of their weights (fasterai's `large_final`),
    /// removing `ratio` of the channels.
    ///
    /// - [`Ranking::Local`]: each layer keeps [`kept_width`]`(width, ratio, min_width)` filters,
    ///   its highest-scoring ones.
    /// - [`Ranking::Global`]: `⌊ratio·Σ width⌋` filters are removed over all layers together,
    ///   ranked by each filter's L1 norm divided by the mean L1 norm of its layer, so every
    ///   layer's average filter scores 1. This normalisation is what keeps a layer alive: raw L1
    ///   norms grow with the number of weights a filter carries (9 in a 1→32 3×3 conv, 576 in a
    ///   64→64 one) and shrink with the fan-in-scaled initialisation, so ranked raw, whole layers
    ///   fall below the threshold (fasterai's global 50% left SmallVgg's convs at widths
    ///   [32, 1, 1, 64]). Dividing by the layer mean removes both the parameter count and the
    ///   layer's scale, and compares filters by how they stand within their own layer. The lowest
    ///   normalised scores go first, but no layer drops below `max(min_width, 1)`; when these
    ///   floors stop the removal early, fewer filters are removed (the plan's widths show it).
    ///
    /// Ties keep the lower index. The kept indices are sorted.
    ///
    /// ```
    /// use fasterai_runtime::compress::prune::{LayerFilters, PrunePlan, Ranking};
    /// use fasterai_runtime::units::Ratio;
    /// let big = [4.0, 3.0, 2.0, 1.0];          // 4 filters of 1 weight
    /// let small = [0.04, 0.03, 0.02, 0.01];    // the same pattern, 100× smaller
    /// let layers = [
    ///     LayerFilters { name: "conv1", width: 4, weight: &big, bias: None, bn: None },
    ///     LayerFilters { name: "conv2", width: 4, weight: &small, bias: None, bn: None },
    /// ];
    /// let half = Ratio::from_percent(50.0).unwrap();
    /// let plan = PrunePlan::from_scores(&layers, Ranking::Global, half, 1)?;
    /// // Normalised per layer, both lose the same two filters; raw L1 would have emptied conv2.
    /// assert_eq!(plan.kept("conv1"), Some(&[0, 1][..]));
    /// assert_eq!(plan.kept("conv2"), Some(&[0, 1][..]));
    /// # Ok::<(), fasterai_runtime::compress::PruneError>(())
    /// ```
    pub fn from_scores(
        layers: &[LayerFilters<'_>],
        ranking: Ranking,
        ratio: Ratio,
        min_width: usize,
    ) -> Result<Self, PruneError> {
        check_unique(layers)?;
        let scores: Vec<Vec<f64>> = layers.iter().map(|l| l.l1_scores()).collect::<Result<_, _>>()?;
        let keep_counts: Vec<usize> = match ranking {
            Ranking::Local => layers.iter().map(|l| kept_width(l.width, ratio, min_width)).collect(),
            Ranking::Global => global_keep_counts(layers, &scores, ratio, min_width),
        };
        let plans = layers
            .iter()
            .zip(&scores)
            .zip(keep_counts)
            .map(|((layer, scores), keep)| LayerPlan {
                name: layer.name.to_string(),
                width: layer.width,
                kept: top_indices(scores, keep),
            })
            .collect();
        Self::new(plans)
    }
}

/// The `keep` highest scores' indices, sorted; ties keep the lower index.
fn top_indices(scores: &[f64], keep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept = order[..keep.min(scores.len())].to_vec();
    kept.sort_unstable();
    kept
}

/// How many filters each layer keeps under global ranking of layer-normalised scores.
fn global_keep_counts(
    layers: &[LayerFilters<'_>],
    raw: &[Vec<f64>],
    ratio: Ratio,
    min_width: usize,
) -> Vec<usize> {
    // (normalised score, layer, filter), lowest first; among equal scores the higher index goes first.
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (l, scores) in raw.iter().enumerate() {
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        candidates
            .extend(scores.iter().enumerate().map(|(o, &s)| (if mean > 0.0 { s / mean } else { 0.0 }, l, o)));
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)));

    let total: usize = layers.iter().map(|l| l.width).sum();
    let target = removed_count(ratio, total);
    let mut keep: Vec<usize> = layers.iter().map(|l| l.width).collect();
    let floors: Vec<usize> = layers.iter().map(|l| min_width.max(1).min(l.width)).collect();
    let mut removed = 0;
    for &(_, l, _) in &candidates {
        if removed == target {
            break;
        }
        if keep[l] > floors[l] {
            keep[l] -= 1;
            removed += 1;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::prune::BnAffine;
    use crate::test_support::random_vec;
    use rand::{rngs::SmallRng, SeedableRng};

    fn filters<'a>(name: &'a str, width: usize, weight: &'a [f32]) -> LayerFilters<'a> {
        LayerFilters { name, width, weight, bias: None, bn: None }
    }

    #[test]
    fn zero_filters_need_weights_bias_and_bn_all_zero() {
        // 5 filters of 2 weights: 0 live; 1 zero everywhere; 2 zero weights but bias; 3 zero but γ;
        // 4 zero but β.
        let weight = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let bias = [0.0, 0.0, 0.3, 0.0, 0.0];
        let gamma = [1.0, 0.0, 0.0, 0.7, 0.0];
        let beta = [0.0, 0.0, 0.0, 0.0, -0.2];
        let layer = LayerFilters {
            name: "c",
            width: 5,
            weight: &weight,
            bias: Some(&bias),
            bn: Some(BnAffine { gamma: &gamma, beta: &beta }),
        };
        let plan = PrunePlan::from_zero_filters(&[layer]).unwrap();
        assert_eq!(plan.kept("c"), Some(&[0, 2, 3, 4][..]));
        // Without bias and BN only the weights count.
        let plan = PrunePlan::from_zero_filters(&[filters("c", 5, &weight)]).unwrap();
        assert_eq!(plan.kept("c"), Some(&[0][..]));
        // An all-zero layer keeps its first filter.
        let plan = PrunePlan::from_zero_filters(&[filters("c", 5, &[0.0; 10])]).unwrap();
        assert_eq!(plan.kept("c"), Some(&[0][..]));
    }

    #[test]
    fn local_ranking_removes_the_smallest_l1_in_each_layer() {
        let a = [0.1, -5.0, 2.0, -0.5, 3.0, 0.2]; // 6 filters of 1 weight; |.| ranks 1, 4, 2 on top
        let b = [1.0, 1.0, -9.0, 0.0]; // 2 filters of 2 weights: L1 2 and 9
        let layers = [filters("a", 6, &a), filters("b", 2, &b)];
        let half = Ratio::from_percent(50.0).unwrap();
        let plan = PrunePlan::from_scores(&layers, Ranking::Local, half, 1).unwrap();
        assert_eq!(plan.kept("a"), Some(&[1, 2, 4][..]));
        assert_eq!(plan.kept("b"), Some(&[1][..]));
        // min_width raises the floor.
        let plan = PrunePlan::from_scores(&layers, Ranking::Local, Ratio::FULL, 2).unwrap();
        assert_eq!(plan.kept("a"), Some(&[1, 4][..]));
        assert_eq!(plan.kept("b"), Some(&[0, 1][..]));
        // Ties keep the lower index.
        let plan = PrunePlan::from_scores(&[filters("t", 4, &[1.0; 4])], Ranking::Local, half, 1).unwrap();
        assert_eq!(plan.kept("t"), Some(&[0, 1][..]));
    }

    #[test]
    fn global_ranking_does_not_collapse_a_layer_with_smaller_weights() {
        // Three layers like SmallVgg's: fan-ins 9, 288, 576; weights scaled like a fan-in
        // initialisation (1/√fan_in), so raw L1 per weight differs 8× between the first and last.
        let mut rng = SmallRng::seed_from_u64(5);
        let shapes = [("conv1", 32, 9), ("conv2", 32, 288), ("conv3", 64, 576)];
        let weights: Vec<Vec<f32>> = shapes
            .iter()
            .map(|&(_, w, fan_in)| random_vec(&mut rng, w * fan_in, 1.0 / (fan_in as f32).sqrt()))
            .collect();
        let layers: Vec<LayerFilters> =
            shapes.iter().zip(&weights).map(|(&(name, width, _), w)| filters(name, width, w)).collect();
        let half = Ratio::from_percent(50.0).unwrap();
        let plan = PrunePlan::from_scores(&layers, Ranking::Global, half, 4).unwrap();
        let widths: Vec<usize> = plan.layers().iter().map(|l| l.new_width()).collect();
        assert_eq!(widths.iter().sum::<usize>(), 128 - 64, "removes half of all channels: {widths:?}");
        for (&w, &(name, width, _)) in widths.iter().zip(&shapes) {
            // Normalised scores of similar spread leave every layer near half; none at the floor.
            assert!(w > width / 4 && w < width * 3 / 4, "{name} kept {w} of {width}: {widths:?}");
        }

        // Within a layer the kept filters are exactly those with the largest L1.
        for (layer, plan_layer) in layers.iter().zip(plan.layers()) {
            let scores = layer.l1_scores().unwrap();
            let weakest_kept = plan_layer.kept.iter().map(|&o| scores[o]).fold(f64::INFINITY, f64::min);
            let strongest_dropped = (0..layer.width)
                .filter(|o| !plan_layer.kept.contains(o))
                .map(|o| scores[o])
                .fold(0.0, f64::max);
            assert!(weakest_kept >= strongest_dropped, "{}", layer.name);
        }
    }

    #[test]
    fn global_floors_hold_and_can_stop_the_removal_early() {
        // One layer's scores are all tiny relative to its mean except one: it would lose the most.
        let a = [1.0, 1.0, 1.0, 1.0];
        let b = [0.01, 0.01, 0.01, 10.0];
        let layers = [filters("a", 4, &a), filters("b", 4, &b)];
        let plan =
            PrunePlan::from_scores(&layers, Ranking::Global, Ratio::from_percent(50.0).unwrap(), 2).unwrap();
        // b stops at its floor of 2: its best filter and, among equal scores, the lowest index.
        assert_eq!(plan.kept("b"), Some(&[0, 3][..]));
        assert_eq!(plan.kept("a"), Some(&[0, 1][..]), "the rest of the budget comes from a");
        // Removing everything stops at the floors: one filter each.
        let plan = PrunePlan::from_scores(&layers, Ranking::Global, Ratio::FULL, 0).unwrap();
        assert_eq!(plan.layers().iter().map(|l| l.new_width()).collect::<Vec<_>>(), vec![1, 1]);
    }

    #[test]
    fn score_errors() {
        let good = [1.0; 4];
        let cases = [
            (
                PrunePlan::from_scores(&[filters("c", 0, &good)], Ranking::Local, Ratio::ZERO, 1),
                "`c` has width 0",
            ),
            (
                PrunePlan::from_scores(&[filters("c", 3, &good)], Ranking::Local, Ratio::ZERO, 1),
                "weight has 4 values, expected 3",
            ),
            (
                PrunePlan::from_scores(&[filters("c", 2, &[])], Ranking::Global, Ratio::ZERO, 1),
                "weight has 0 values",
            ),
            (
                PrunePlan::from_scores(
                    &[filters("c", 2, &good), filters("c", 2, &good)],
                    Ranking::Local,
                    Ratio::ZERO,
                    1,
                ),
                "`c` appears twice",
            ),
            (
                PrunePlan::from_scores(
                    &[filters("c", 2, &[1.0, f32::INFINITY])],
                    Ranking::Global,
                    Ratio::ZERO,
                    1,
                ),
                "filter 1 has weights that are not finite",
            ),
            (
                PrunePlan::from_zero_filters(&[LayerFilters {
                    bias: Some(&[0.0]),
                    ..filters("c", 2, &good)
                }]),
                "bias has 1 values, expected 2",
            ),
            (
                PrunePlan::from_zero_filters(&[LayerFilters {
                    bn: Some(BnAffine { gamma: &[0.0, 0.0], beta: &[0.0] }),
                    ..filters("c", 2, &good)
                }]),
                "BatchNorm beta has 1 values",
            ),
            (
                PrunePlan::from_zero_filters(&[filters("d", 2, &good), filters("d", 2, &good)]),
                "`d` appears twice",
            ),
        ];
        for (result, needle) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(needle), "{message} (wanted {needle})");
        }
    }
}
