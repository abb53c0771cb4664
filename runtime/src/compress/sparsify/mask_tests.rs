//! Tests of local, global, rounded and N:M masks, and of the sparsity report.

use super::*;

fn pct(p: f64) -> Sparsity {
    Sparsity::from_percent(p).unwrap()
}

fn dropped(mask: &[f32]) -> usize {
    mask.iter().filter(|&&m| m == 0.0).count()
}

#[test]
fn local_sparsity_is_exactly_floor_of_s_times_n() {
    // fasterai's threshold (k = max(1, int(0.7·64)) = 44, keep score >= the 44th smallest) prunes 43
    // filters, 67.19%; the rank-based mask prunes 44, 68.75%.
    let scores: Vec<f32> = (0..64).map(|i| ((i * 37) % 64) as f32).collect();
    let mask = local_mask(&scores, pct(70.0), None).unwrap();
    assert_eq!(dropped(&mask), 44);
    // Every integer percent on a few sizes: ⌊p·n/100⌋ in integer arithmetic.
    for n in [1usize, 7, 64, 100, 333] {
        let scores: Vec<f32> = (0..n).map(|i| ((i * 7919) % n) as f32).collect();
        for p in 0..=100usize {
            let mask = local_mask(&scores, pct(p as f64), None).unwrap();
            assert_eq!(dropped(&mask), p * n / 100, "{p}% of {n}");
        }
    }
}

#[test]
fn local_mask_drops_the_lowest_scores_and_breaks_ties_by_position() {
    let mask = local_mask(&[0.3, 0.1, 0.2, 0.4], pct(50.0), None).unwrap();
    assert_eq!(mask, [1.0, 0.0, 0.0, 1.0]);
    let ties = local_mask(&[1.0; 5], pct(40.0), None).unwrap();
    assert_eq!(ties, [0.0, 0.0, 1.0, 1.0, 1.0]);
    assert!(local_mask(&[], pct(50.0), None).is_err());
    assert_eq!(local_mask(&[2.0, 1.0], Sparsity::ZERO, None).unwrap(), [1.0, 1.0]);
    assert_eq!(local_mask(&[2.0, 1.0], Sparsity::FULL, None).unwrap(), [0.0, 0.0]);
}

#[test]
fn a_shrinking_target_regrows_pruned_groups() {
    // Pruned groups score 0 (criteria multiply by the mask). When the dsd target falls, fewer groups are
    // dropped: ties among the zeros go by position, so the later pruned group (index 2) comes back first,
    // and all of them once the target reaches 0.
    let scores = [0.0, 0.5, 0.0, 0.9];
    assert_eq!(local_mask(&scores, pct(50.0), None).unwrap(), [0.0, 1.0, 0.0, 1.0]);
    assert_eq!(local_mask(&scores, pct(25.0), None).unwrap(), [0.0, 1.0, 1.0, 1.0]);
    assert_eq!(local_mask(&scores, pct(0.0), None).unwrap(), [1.0; 4]);
}

#[test]
fn round_to_rounds_the_kept_count_up() {
    let scores: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let kept = |s: f64, r: usize| {
        let m = local_mask(&scores, pct(s), NonZeroUsize::new(r)).unwrap();
        m.iter().sum::<f32>() as usize
    };
    assert_eq!(kept(70.0, 4), 4); // 3 kept -> 4
    assert_eq!(kept(70.0, 3), 3); // already a multiple
    assert_eq!(kept(50.0, 4), 8); // 5 -> 8
    assert_eq!(kept(95.0, 4), 4); // 1 kept (9.5 floors to 9 dropped) -> at least r
    assert_eq!(kept(100.0, 2), 2); // even a full target keeps r
    assert_eq!(kept(30.0, 16), 10); // never more than the layer has
                                    // The best groups are the ones kept.
    let m = local_mask(&scores, pct(70.0), NonZeroUsize::new(4)).unwrap();
    assert_eq!(m, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
}

fn layer(name: &str, scores: &[f32], params: usize) -> LayerScores {
    LayerScores { name: name.into(), scores: scores.to_vec(), params_per_group: params }
}

#[test]
fn local_and_global_thresholds_differ_on_hand_made_scores() {
    let a = layer("a", &[1.0, 2.0, 3.0, 4.0], 1);
    let b = layer("b", &[0.5, 5.0, 6.0, 7.0], 1);
    // Local 50%: two per layer.
    assert_eq!(local_mask(&a.scores, pct(50.0), None).unwrap(), [0.0, 0.0, 1.0, 1.0]);
    assert_eq!(local_mask(&b.scores, pct(50.0), None).unwrap(), [0.0, 0.0, 1.0, 1.0]);
    // Global 50% of 8: the 4 lowest overall are 0.5, 1, 2, 3 (threshold 4 over the concatenation).
    let g = global_masks(&[a, b], pct(50.0), &GlobalOptions::default()).unwrap();
    assert_eq!(g, [vec![0.0, 0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0, 1.0]]);
}

#[test]
fn global_ranking_can_collapse_a_layer_and_the_options_prevent_it() {
    // Layer "wide" has small raw scores (large fan-in), as conv2/conv3 of SmallVgg.
    let narrow = layer("narrow", &[0.8, 1.0, 1.2, 1.4], 9);
    let wide = layer("wide", &[0.10, 0.12, 0.14, 0.16], 288);
    let layers = [narrow, wide];
    let raw = global_masks(&layers, pct(50.0), &GlobalOptions::default()).unwrap();
    assert_eq!(raw[1], [0.0; 4], "raw global ranking empties the wide layer");

    // A floor of 2 groups per layer: wide keeps 2, the other 2 drops come from narrow.
    let floor = GlobalOptions { min_kept: MinKept::Groups(2), ..GlobalOptions::default() };
    let m = global_masks(&layers, pct(50.0), &floor).unwrap();
    assert_eq!(m, [vec![0.0, 0.0, 1.0, 1.0], vec![0.0, 0.0, 1.0, 1.0]]);

    // Normalised per layer (divided by the layer mean, 1.1 and 0.13): narrow [0.727, 0.909, 1.091, 1.273],
    // wide [0.769, 0.923, 1.077, 1.231]; 4 lowest: narrow0, wide0, narrow1, wide1.
    let norm = GlobalOptions { normalise_per_layer: true, ..GlobalOptions::default() };
    let m = global_masks(&layers, pct(50.0), &norm).unwrap();
    assert_eq!(m, [vec![0.0, 0.0, 1.0, 1.0], vec![0.0, 0.0, 1.0, 1.0]]);
}

#[test]
fn a_parameter_budget_counts_the_weights_a_group_carries() {
    // 4 groups of 10 weights and 2 groups of 30: 100 weights, 50% = 50 weights.
    // Normalised: small [0.4, 0.8, 1.2, 1.6], big [0.5, 1.5]. Ascending: s0 (10, left 40), b0 (30, left 10),
    // s1 (10, left 0). 50 weights dropped, exactly the target.
    let layers = [layer("small", &[1.0, 2.0, 3.0, 4.0], 10), layer("big", &[1.0, 3.0], 30)];
    let opts = GlobalOptions { normalise_per_layer: true, budget: Budget::Parameters, ..GlobalOptions::default() };
    let m = global_masks(&layers, pct(50.0), &opts).unwrap();
    assert_eq!(m, [vec![0.0, 0.0, 1.0, 1.0], vec![0.0, 1.0]]);
    // A group that does not fit the remaining budget is skipped, a cheaper one after it is taken:
    // 30% = 30 weights: s0 (10, left 20), b0 (30) does not fit, s1 (10, left 10), s2 (10, left 0).
    let m = global_masks(&layers, pct(30.0), &opts).unwrap();
    assert_eq!(m, [vec![0.0, 0.0, 0.0, 1.0], vec![1.0, 1.0]]);
}

#[test]
fn global_min_share_and_round_to() {
    let layers = [layer("a", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 1), layer("b", &[10.0, 20.0, 30.0, 40.0], 1)];
    // 75% of 12 = 9 drops; a keeps at least a quarter (2), so 6 drops from a and 3 from b.
    let share =
        GlobalOptions { min_kept: MinKept::Share(Ratio::from_fraction(0.25).unwrap()), ..GlobalOptions::default() };
    let m = global_masks(&layers, pct(75.0), &share).unwrap();
    assert_eq!(m[0].iter().sum::<f32>(), 2.0);
    assert_eq!(m[1], [0.0, 0.0, 0.0, 1.0]);
    // round_to 4 after the ranking: a keeps 2 -> 4 (its 4 best), b keeps 1 -> 4.
    let rounded = GlobalOptions { round_to: NonZeroUsize::new(4), ..share };
    let m = global_masks(&layers, pct(75.0), &rounded).unwrap();
    assert_eq!(m[0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(m[1], [1.0; 4]);
}

#[test]
fn global_rejects_empty_input() {
    assert!(global_masks(&[], pct(50.0), &GlobalOptions::default()).is_err());
    let err = global_masks(&[layer("fc1", &[], 3)], pct(50.0), &GlobalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("fc1"), "{err}");
}

#[test]
fn two_four_keeps_two_of_every_four_input_channels() {
    // Conv weight (2, 4, 1, 2): score = a pattern that differs per (out, kernel position).
    let shape = [2, 4, 1, 2];
    let scores: Vec<f32> = (0..16).map(|i| ((i * 5) % 7) as f32).collect();
    let mask = nm_mask("conv2", &scores, &shape, NmPattern::TWO_FOUR).unwrap();
    for o in 0..2 {
        for k in 0..2 {
            let idx: Vec<usize> = (0..4).map(|c| (o * 4 + c) * 2 + k).collect();
            let kept: Vec<usize> = idx.iter().copied().filter(|&i| mask[i] == 1.0).collect();
            assert_eq!(kept.len(), 2, "out {o} pos {k}");
            let min_kept = kept.iter().map(|&i| scores[i]).fold(f32::INFINITY, f32::min);
            let max_dropped =
                idx.iter().filter(|i| !kept.contains(i)).map(|&i| scores[i]).fold(f32::NEG_INFINITY, f32::max);
            assert!(min_kept >= max_dropped, "out {o} pos {k}: kept the best two");
        }
    }
    // By hand for out 0, position 0: indices 0, 2, 4, 6 score 0, 3, 6, 2 -> keep 4 and 2.
    assert_eq!([mask[0], mask[2], mask[4], mask[6]], [0.0, 1.0, 1.0, 0.0]);
    assert_eq!(dropped(&mask), 8);
}

#[test]
fn two_four_needs_input_channels_divisible_by_four() {
    let err = nm_mask("conv1", &[0.0; 27], &[1, 3, 3, 3], NmPattern::TWO_FOUR).unwrap_err();
    assert_eq!(err, CompressError::NmIndivisible { layer: "conv1".into(), in_channels: 3, n: 2, m: 4 });
    let msg = err.to_string();
    assert!(msg.contains("conv1") && msg.contains("has 3"), "{msg}");
    assert!(NmPattern::new(3, 2).is_err() && NmPattern::new(0, 4).is_err());
    assert!(nm_mask("x", &[0.0; 8], &[2, 4, 1], NmPattern::TWO_FOUR).is_err());
}

#[test]
fn the_report_reads_like_the_walkthrough() {
    let weights: Vec<f32> = (0..1000).map(|i| if i < 623 { 0.0 } else { 1.0 }).collect();
    let line = LayerSparsity::measure("conv3", &weights);
    assert_eq!(line.to_string(), "Sparsity in conv3: 62.30%");
    assert_eq!(line.sparsity(), Sparsity::from_fraction(0.623).unwrap());
    assert_eq!(LayerSparsity::measure("empty", &[]).sparsity(), Sparsity::ZERO);
    let report = SparsityReport::new(vec![line, LayerSparsity::measure("fc", &[0.0, 0.0])]);
    assert_eq!(report.to_string(), "Sparsity in conv3: 62.30%\nSparsity in fc: 100.00%\nOverall sparsity: 62.38%\n");
}

#[test]
fn smallvgg_like_filters_global_50_percent_raw_collapses_balanced_does_not() {
    use crate::compress::sparsify::{ConvGranularity, Criteria, Criterion, Granularity, WeightState};
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    // DESIGN.md's SmallVgg convs (out, in, 3, 3) at a Kaiming-uniform-like init: |W| ~ 1/sqrt(fan_in), so
    // filter scores of wide-input layers are small. Scored by large_final over filters, as a user would.
    let convs = [("conv1", 32, 1), ("conv2", 32, 32), ("conv3", 64, 32), ("conv4", 64, 64)];
    let mut rng = SmallRng::seed_from_u64(5);
    let layers: Vec<LayerScores> = convs
        .iter()
        .map(|&(name, out, cin)| {
            let shape = [out, cin, 3, 3];
            let bound = 1.0 / ((cin * 9) as f32).sqrt();
            let w: Vec<f32> = (0..out * cin * 9).map(|_| rng.gen_range(-bound..bound)).collect();
            let state = WeightState::new(&w, &shape);
            let g = Criteria::new(Criterion::LargeFinal).scores(&state, Granularity::Conv(ConvGranularity::Filter));
            let g = g.unwrap();
            LayerScores { name: name.into(), params_per_group: g.weights_per_group(&shape), scores: g.values }
        })
        .collect();
    let widths = |masks: &[Vec<f32>]| masks.iter().map(|m| m.iter().sum::<f32>() as usize).collect::<Vec<_>>();

    let raw = widths(&global_masks(&layers, pct(50.0), &GlobalOptions::default()).unwrap());
    assert_eq!(raw.iter().sum::<usize>(), 96, "{raw:?}"); // half of 192 filters
    assert!(raw.iter().any(|&w| w <= 1), "raw ranking collapses a layer: {raw:?}");

    let balanced = widths(&global_masks(&layers, pct(50.0), &GlobalOptions::balanced()).unwrap());
    for ((name, out, _), w) in convs.iter().zip(&balanced) {
        assert!(*w >= out / 4, "{name} kept {w} of {out}: {balanced:?}");
    }
    // The budget counts weights: 50% of them are gone, within one filter of the widest layer.
    let total: usize = layers.iter().map(|l| l.scores.len() * l.params_per_group).sum();
    let kept: usize = layers.iter().zip(&balanced).map(|(l, w)| w * l.params_per_group).sum();
    assert!(kept >= total / 2 && kept - total / 2 < 576, "kept {kept} of {total} weights");
}
