//! Tests of the criteria against literal values.
// The expected values are pasted as the script printed them, more digits than an f32 holds.
#![allow(clippy::excessive_precision)]

use super::*;
use crate::compress::sparsify::granularity::{ConvGranularity, LinearGranularity};

// A (2, 3) linear weight and its companions. Expected values come from this script:
// ```text
// EPS = 1.1920928955078125e-07
// W  = [0.5, -1.0, 0.25, -0.1, 2.0, -0.75]
// Wi = [0.4, 0.5, -0.5, 0.3, -1.5, 0.0]
// Wp = [0.5, -0.5, 0.0, -0.2, 2.5, -0.75]
// G  = [1.0, 0.5, -2.0, 4.0, 0.1, 0.0]
// N  = [2.0, 1.0, 0.5]
// def rescale(s):
//     m = min(s); sh = -m if m < 0 else 0.0
//     return [x + sh + EPS for x in s]
// crit = {'large_final': [abs(a) for a in W], 'squared_final': [a*a for a in W],
//   'small_final': [-abs(a) for a in W], 'large_init': [abs(b) for b in Wi],
//   'small_init': [-abs(b) for b in Wi],
//   'large_init_large_final': [min(abs(a),abs(b)) for a,b in zip(W,Wi)],
//   'small_init_small_final': [-max(abs(a),abs(b)) for a,b in zip(W,Wi)],
//   'magnitude_increase': [abs(a)-abs(b) for a,b in zip(W,Wi)],
//   'movement': [abs(a-b) for a,b in zip(W,Wi)], 'movmag': [abs(a*(a-b)) for a,b in zip(W,Wi)],
//   'updating_magnitude_increase': [abs(a)-abs(b) for a,b in zip(W,Wp)],
//   'updating_movement': [abs(a-b) for a,b in zip(W,Wp)],
//   'updating_movmag': [abs(a*(a-b)) for a,b in zip(W,Wp)],
//   'wanda': [abs(a)*N[i%3] for i,a in enumerate(W)], 'taylor': [(a*g)**2 for a,g in zip(W,G)]}
// for k,v in crit.items():
//     r = rescale(v)
//     print(k, [round(x, 7) for x in r], 'rows', [round(sum(r[0:3])/3,7), round(sum(r[3:6])/3,7)])
// ```
const W: [f32; 6] = [0.5, -1.0, 0.25, -0.1, 2.0, -0.75];
const WI: [f32; 6] = [0.4, 0.5, -0.5, 0.3, -1.5, 0.0];
const WP: [f32; 6] = [0.5, -0.5, 0.0, -0.2, 2.5, -0.75];
const G: [f32; 6] = [1.0, 0.5, -2.0, 4.0, 0.1, 0.0];
const NORM: [f32; 3] = [2.0, 1.0, 0.5];
const SHAPE: [usize; 2] = [2, 3];

fn full_state() -> WeightState<'static> {
    WeightState::new(&W, &SHAPE).with_init(&WI).with_previous(&WP).with_gradient(&G).with_activation_norm(&NORM)
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{what}: got {got:?}, want {want:?}");
    }
}

#[test]
fn every_criterion_matches_the_script_per_weight_and_per_row() {
    use Criterion::*;
    let e = 1e-7; // rounding of f32::EPSILON in the script's output
    let table: [(Criterion, [f32; 6], [f32; 2]); 15] = [
        (LargeFinal, [0.5000001, 1.0000001, 0.2500001, 0.1000001, 2.0000001, 0.7500001], [0.5833335, 0.9500001]),
        (SquaredFinal, [0.2500001, 1.0000001, 0.0625001, 0.0100001, 4.0000001, 0.5625001], [0.4375001, 1.5241668]),
        (SmallFinal, [1.5000001, 1.0000001, 1.7500001, 1.9000001, e, 1.2500001], [1.4166668, 1.0500001]),
        (LargeInit, [0.4000001, 0.5000001, 0.5000001, 0.3000001, 1.5000001, e], [0.4666668, 0.6000001]),
        (SmallInit, [1.1000001, 1.0000001, 1.0000001, 1.2000001, e, 1.5000001], [1.0333335, 0.9000001]),
        (LargeInitLargeFinal, [0.4000001, 0.5000001, 0.2500001, 0.1000001, 1.5000001, e], [0.3833335, 0.5333335]),
        (SmallInitSmallFinal, [1.5000001, 1.0000001, 1.5000001, 1.7000001, e, 1.2500001], [1.3333335, 0.9833335]),
        (MagnitudeIncrease, [0.3500001, 0.7500001, e, 0.0500001, 0.7500001, 1.0000001], [0.3666668, 0.6000001]),
        (Movement, [0.1000001, 1.5000001, 0.7500001, 0.4000001, 3.5000001, 0.7500001], [0.7833335, 1.5500001]),
        (Movmag, [0.0500001, 1.5000001, 0.1875001, 0.0400001, 7.0000001, 0.5625001], [0.5791668, 2.5341668]),
        (UpdatingMagnitudeIncrease, [0.5000001, 1.0000001, 0.7500001, 0.4000001, e, 0.5000001], [0.7500001, 0.3000001]),
        (UpdatingMovement, [e, 0.5000001, 0.2500001, 0.1000001, 0.5000001, e], [0.2500001, 0.2000001]),
        (UpdatingMovmag, [e, 0.5000001, 0.0625001, 0.0100001, 1.0000001, e], [0.1875001, 0.3366668]),
        (Wanda, [1.0000001, 1.0000001, 0.1250001, 0.2000001, 2.0000001, 0.3750001], [0.7083335, 0.8583335]),
        (Taylor, [0.2500001, 0.2500001, 0.2500001, 0.1600001, 0.0400001, e], [0.2500001, 0.0666668]),
    ];
    let state = full_state();
    for (c, per_weight, rows) in table {
        let crit = Criteria::new(c);
        assert_close(&crit.per_weight(&state).unwrap(), &per_weight, c.name());
        let w = crit.scores(&state, Granularity::Linear(LinearGranularity::Weight)).unwrap();
        assert_close(&w.values, &per_weight, c.name());
        let r = crit.scores(&state, Granularity::Linear(LinearGranularity::Row)).unwrap();
        assert_eq!(r.shape, [2, 1]);
        assert_close(&r.values, &rows, c.name());
    }
}

#[test]
fn every_live_score_is_positive_after_rescaling() {
    let state = full_state();
    for c in [Criterion::SmallFinal, Criterion::MagnitudeIncrease, Criterion::Random { seed: 3 }] {
        let s = Criteria::new(c).per_weight(&state).unwrap();
        assert!(s.iter().all(|&x| x > 0.0), "{}: {s:?}", c.name());
    }
}

#[test]
fn taylor_or_squared_falls_back_only_when_asked() {
    let bare = WeightState::new(&W, &SHAPE);
    let fallback = Criteria::new(Criterion::TaylorOrSquared).per_weight(&bare).unwrap();
    let squared = Criteria::new(Criterion::SquaredFinal).per_weight(&bare).unwrap();
    assert_eq!(fallback, squared);
    let with_grad = Criteria::new(Criterion::TaylorOrSquared).per_weight(&full_state()).unwrap();
    assert_eq!(with_grad, Criteria::new(Criterion::Taylor).per_weight(&full_state()).unwrap());
}

#[test]
fn a_missing_input_is_named() {
    let bare = WeightState::new(&W, &SHAPE);
    let cases = [
        (Criterion::LargeInit, "initial weights"),
        (Criterion::Movmag, "initial weights"),
        (Criterion::UpdatingMovement, "previous pruning step"),
        (Criterion::Wanda, "activation norm"),
        (Criterion::Taylor, "gradient"),
    ];
    for (c, needs) in cases {
        let err = Criteria::new(c).per_weight(&bare).unwrap_err();
        assert!(matches!(err, CompressError::MissingInput { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(needs) && msg.contains(c.name()), "{msg}");
    }
    assert!(Criterion::Movement.needs_init() && !Criterion::Movement.needs_previous());
    assert!(Criterion::UpdatingMovmag.needs_previous() && Criterion::Wanda.needs_activations());
    assert!(Criterion::Taylor.needs_gradient() && !Criterion::TaylorOrSquared.needs_gradient());
}

#[test]
fn inputs_of_the_wrong_length_are_rejected() {
    let short = [1.0f32; 5];
    let bad = WeightState::new(&W, &SHAPE).with_init(&short);
    assert!(matches!(
        Criterion::LargeInit.per_weight(&bad),
        Err(CompressError::LengthMismatch { what: "initial weights", .. })
    ));
    let bad_norm = WeightState::new(&W, &SHAPE).with_activation_norm(&[1.0, 2.0]);
    assert!(matches!(Criterion::Wanda.per_weight(&bad_norm), Err(CompressError::LengthMismatch { .. })));
    // A rank-1 weight has no input channel for Wanda to scale.
    let flat = WeightState::new(&W, &[6]).with_activation_norm(&[]);
    let err = Criterion::Wanda.per_weight(&flat).unwrap_err();
    assert!(err.to_string().contains("wanda"), "{err}");
}

#[test]
fn the_mask_zeroes_pruned_weights_so_they_rank_first() {
    let mask = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
    let state = WeightState::new(&W, &SHAPE).with_mask(&mask);
    let s = Criteria::new(Criterion::LargeFinal).per_weight(&state).unwrap();
    assert_close(&s, &[0.5000001, 0.0, 0.2500001, 0.1000001, 2.0000001, 0.0], "masked");
    // Column means: (0.5+0.1)/2, (0+2)/2, (0.25+0)/2, each + eps/2 or eps.
    let cols =
        Criteria::new(Criterion::LargeFinal).scores(&state, Granularity::Linear(LinearGranularity::Column)).unwrap();
    assert_close(&cols.values, &[0.3000001, 1.0000001, 0.1250001], "columns");
}

#[test]
fn wanda_scales_by_the_input_channel_of_a_conv_weight() {
    // (1, 2, 1, 2) conv weight [1, -2, 3, -4], norm [0.5, 2]: |W|·norm = [0.5, 1, 6, 8] (+eps).
    let w = [1.0, -2.0, 3.0, -4.0];
    let state = WeightState::new(&w, &[1, 2, 1, 2]).with_activation_norm(&[0.5, 2.0]);
    let s = Criteria::new(Criterion::Wanda).per_weight(&state).unwrap();
    assert_close(&s, &[0.5, 1.0, 6.0, 8.0], "wanda conv");
    let k = Criteria::new(Criterion::Wanda).scores(&state, Granularity::Conv(ConvGranularity::Kernel)).unwrap();
    assert_close(&k.values, &[0.75, 7.0], "wanda kernels");
}

#[test]
fn random_is_reproducible_from_its_seed() {
    let state = WeightState::new(&[0.0; 64], &[8, 8]);
    let a = Criterion::Random { seed: 7 }.per_weight(&state).unwrap();
    let b = Criterion::Random { seed: 7 }.per_weight(&state).unwrap();
    let c = Criterion::Random { seed: 8 }.per_weight(&state).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(|&x| x < 0.0) && a.iter().any(|&x| x > 0.0), "standard normal, both signs");
}

#[test]
fn normalizers_match_hand_values() {
    // mean 3, sum 12, max 6, min 1, sample std sqrt(14/3) = 2.160246899469287 (python statistics.stdev)
    let base = [1.0f32, 2.0, 3.0, 6.0];
    let cases: [(Normalizer, [f32; 4]); 5] = [
        (Normalizer::Sum, [1.0 / 12.0, 2.0 / 12.0, 0.25, 0.5]),
        (Normalizer::Mean, [1.0 / 3.0, 2.0 / 3.0, 1.0, 2.0]),
        (Normalizer::Max, [1.0 / 6.0, 1.0 / 3.0, 0.5, 1.0]),
        (Normalizer::Standardization, [0.0, 0.2, 0.4, 1.0]),
        (Normalizer::Gaussian, [-0.9258200486828587, -0.46291002434142936, 0.0, 1.388730073024288]),
    ];
    for (n, want) in cases {
        let mut s = base;
        n.apply(&mut s);
        assert_close(&s, &want, &format!("{n:?}"));
    }
    // All pruned: no division by zero.
    let mut zeros = [0.0f32; 3];
    Normalizer::Sum.apply(&mut zeros);
    assert_eq!(zeros, [0.0; 3]);
    // Through Criteria: large_final rows [0.5833335, 0.9500001] divided by their max.
    let rows = Criteria::new(Criterion::LargeFinal)
        .normalized(Normalizer::Max)
        .scores(&full_state(), Granularity::Linear(LinearGranularity::Row))
        .unwrap();
    assert_close(&rows.values, &[0.5833335 / 0.9500001, 1.0], "max-normalised rows");
}

#[test]
fn activation_stats_reduce_batches_per_channel() {
    // Two batches of (1, 2, 1, 2): channel 0 sees [1, -3] then [2, 0]; channel 1 sees [0, 4] then [-1, 1].
    let batches: [[f32; 4]; 2] = [[1.0, -3.0, 0.0, 4.0], [2.0, 0.0, -1.0, 1.0]];
    let run = |stat| {
        let mut s = ActivationStats::new(stat);
        for b in &batches {
            s.add_batch(b, &[1, 2, 1, 2]).unwrap();
        }
        s.finish().unwrap()
    };
    // l2: sqrt((1+9+4+0)/2) = sqrt(7), sqrt((0+16+1+1)/2) = 3
    assert_close(&run(ActivationStat::L2Norm), &[7f32.sqrt(), 3.0], "l2");
    assert_close(&run(ActivationStat::Max), &[3.0, 4.0], "max");
    // mean |x|: (1+3+2+0)/4 = 1.5, (0+4+1+1)/4 = 1.5
    assert_close(&run(ActivationStat::Mean), &[1.5, 1.5], "mean");
    // The same data in one batch of 2 gives the same values (fasterai's would not for max/mean).
    let mut one = ActivationStats::new(ActivationStat::Max);
    one.add_batch(&[1.0, -3.0, 0.0, 4.0, 2.0, 0.0, -1.0, 1.0], &[2, 2, 1, 2]).unwrap();
    assert_close(&one.finish().unwrap(), &[3.0, 4.0], "max in one batch");
    // (batch, C) activations: sqrt((1 + 9)/2), sqrt((4 + 16)/2)
    let mut flat = ActivationStats::new(ActivationStat::L2Norm);
    flat.add_batch(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    assert_close(&flat.finish().unwrap(), &[5f32.sqrt(), 10f32.sqrt()], "flat");
}

#[test]
fn activation_stats_reject_bad_input() {
    let mut s = ActivationStats::new(ActivationStat::L2Norm);
    assert_eq!(s.finish(), Err(CompressError::NoCalibrationData));
    assert!(matches!(s.add_batch(&[0.0; 3], &[3]), Err(CompressError::ActivationRank { .. })));
    s.add_batch(&[0.0; 4], &[2, 2]).unwrap();
    assert_eq!(s.add_batch(&[0.0; 3], &[1, 3]), Err(CompressError::ChannelMismatch { expected: 2, found: 3 }));
}

#[test]
fn names_parse_back() {
    for c in Criterion::ALL {
        assert_eq!(c.name().parse::<Criterion>().unwrap(), c);
    }
    let err = "vector".parse::<Criterion>().unwrap_err();
    assert!(matches!(err, CompressError::UnknownName { what: "criterion", .. }), "{err}");
}
