use super::*;
use crate::test_support::random_vec;
use crate::nn::Linear;
use dfdx::prelude::*;
use rand::{rngs::SmallRng, SeedableRng};

/// `‖W − first·second‖_F` computed in f64 from the f32 factors.
fn reconstruction_error(w: &[f32], f: &Factorization, outputs: usize, inputs: usize) -> f64 {
    let k = f.report.capacity;
    let mut sum = 0.0;
    for o in 0..outputs {
        for i in 0..inputs {
            let approx: f64 =
                (0..k).map(|r| f64::from(f.second[o * k + r]) * f64::from(f.first[r * inputs + i])).sum();
            sum += (f64::from(w[o * inputs + i]) - approx).powi(2);
        }
    }
    sum.sqrt()
}

#[test]
fn frobenius_error_equals_the_discarded_singular_values() {
    let mut rng = SmallRng::seed_from_u64(3);
    for (outputs, inputs, rank) in [(20, 30, 7), (30, 20, 12), (16, 16, 1), (9, 40, 8)] {
        let w = random_vec(&mut rng, outputs * inputs, 1.0);
        let sigma = singular_values("fc", &w, outputs, inputs).unwrap();
        let discarded = sigma[rank..].iter().map(|s| s * s).sum::<f64>().sqrt();
        let f = factorize("fc", &w, outputs, inputs, RankRule::Fixed(rank), rank).unwrap();
        let measured = reconstruction_error(&w, &f, outputs, inputs);
        assert!(
            ((measured - discarded) / discarded).abs() < 1e-4,
            "{outputs}×{inputs} rank {rank}: {measured} vs {discarded}"
        );
        assert!((f.report.frobenius_error - discarded).abs() <= 1e-12 * discarded.max(1.0));
        // Σσ² is ‖W‖²: an independent check of the singular values themselves.
        let norm2: f64 = w.iter().map(|&x| f64::from(x).powi(2)).sum();
        let energy: f64 = sigma.iter().map(|s| s * s).sum();
        assert!(((norm2 - energy) / norm2).abs() < 1e-10);
    }
}

#[test]
fn full_rank_reconstructs_the_weight() {
    let mut rng = SmallRng::seed_from_u64(4);
    let w = random_vec(&mut rng, 12 * 7, 1.0);
    let f = factorize("fc", &w, 12, 7, RankRule::Fixed(7), 7).unwrap();
    assert!(reconstruction_error(&w, &f, 12, 7) < 1e-5);
    assert_eq!(f.report.energy_kept, 1.0);
}

#[test]
fn rank_rule_examples() {
    let r = |p: f64| Ratio::from_percent(p).unwrap();
    let cases = [
        // (removed %, inputs, outputs, rank, why)
        (50.0, 3136, 256, 128, "SmallVgg fc1 at 50%"),
        (50.0, 256, 3136, 128, "min(I, O) whatever the orientation"),
        (0.0, 10, 4, 4, "nothing removed keeps the full rank"),
        (100.0, 10, 4, 1, "at least one"),
        (99.0, 10, 40, 1, "floor(0.1) = 0 becomes 1"),
        (30.0, 10, 10, 7, "0.7·10 is 7 despite binary rounding"),
        (25.0, 7, 9, 5, "floor(5.25)"),
    ];
    for (p, inputs, outputs, expected, why) in cases {
        assert_eq!(rank_for_removed(r(p), inputs, outputs), expected, "{why}");
    }
}

#[test]
fn energy_rule_picks_the_smallest_sufficient_rank_and_caps_it() {
    let e = |p: f64| Energy::from_percent(p).unwrap();
    let sigma = [3.0, 2.0, 1.0, 1.0]; // energies 9, 4, 1, 1 of 15
    assert_eq!(rank_for_energy(&sigma, e(60.0)), 1); // 9/15 = 60% exactly
    assert_eq!(rank_for_energy(&sigma, e(61.0)), 2);
    assert_eq!(rank_for_energy(&sigma, e(90.0)), 3); // 14/15
    assert_eq!(rank_for_energy(&sigma, e(100.0)), 4);
    assert_eq!(rank_for_energy(&sigma, Energy::ZERO), 1);
    assert_eq!(rank_for_energy(&[0.0, 0.0], e(50.0)), 1);

    // diag(3, 2, 1, 1) as a 4×4 weight: the rule wants 3, capacity 2 caps it and says so.
    let mut w = vec![0.0f32; 16];
    for (k, s) in sigma.iter().enumerate() {
        w[k * 4 + k] = *s as f32;
    }
    let f = factorize("fc", &w, 4, 4, RankRule::Energy(e(90.0)), 2).unwrap();
    assert_eq!((f.report.rank, f.report.capped), (2, true));
    assert!((f.report.energy_kept - 13.0 / 15.0).abs() < 1e-12);
    let f = factorize("fc", &w, 4, 4, RankRule::Energy(e(90.0)), 4).unwrap();
    assert_eq!((f.report.rank, f.report.capped), (3, false));
    // The unused fourth row and column are zero, and the product is the rank-3 truncation.
    assert!(f.first[12..].iter().all(|&x| x == 0.0));
    assert!((0..4).all(|o| f.second[o * 4 + 3] == 0.0));
    assert!((reconstruction_error(&w, &f, 4, 4) - 1.0).abs() < 1e-6);
}

#[test]
fn typed_wrapper_keeps_the_bias_and_approximates_the_layer() {
    let dev: Cpu = Default::default();
    let fc: Linear<24, 10> = BuildModule::build(&dev);
    let x: Tensor<Rank2<5, 24>, f32, Cpu> = dev.sample_normal();
    let (first, second) = factorize_linear::<24, 10, 10>("fc", &fc).unwrap();
    assert_eq!(second.bias.as_vec(), fc.bias.as_vec());
    let exact = fc.forward(x.clone()).as_vec();
    let full = second.forward(first.forward(x.clone())).as_vec();
    let worst = exact.iter().zip(&full).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "full rank differs by {worst}");

    let (first, second, report) =
        factorize_linear_with::<24, 10, 4>("fc", &fc, RankRule::Fixed(4)).unwrap();
    assert_eq!(report.rank, 4);
    // The layer pair computes x·(first·second)ᵀ + b, the rank-4 truncation of the weight.
    let f = factorize("fc", &fc.weight.as_vec(), 10, 24, RankRule::Fixed(4), 4).unwrap();
    assert_eq!(first.weight.as_vec(), f.first);
    assert_eq!(second.weight.as_vec(), f.second);
}

#[test]
fn every_error_names_the_layer_and_the_values() {
    let dev: Cpu = Default::default();
    let fc: Linear<6, 4> = BuildModule::build(&dev);
    let w = vec![1.0f32; 24];
    let mut bad = w.clone();
    bad[7] = f32::NAN;
    let cases: Vec<(FactorizeError, &str)> = vec![
        (factorize_linear::<6, 4, 5>("fc9", &fc).unwrap_err(), "at most min(inputs, outputs) = 4"),
        (factorize_linear::<6, 4, 0>("fc9", &fc).unwrap_err(), "rank 0"),
        (factorize("fc9", &w, 4, 6, RankRule::Fixed(3), 2).unwrap_err(), "rank 3 exceeds"),
        (factorize("fc9", &w, 4, 6, RankRule::Removed(Ratio::ZERO), 2).unwrap_err(), "rank 4 exceeds"),
        (factorize("fc9", &w[..23], 4, 6, RankRule::Fixed(1), 1).unwrap_err(), "23 values"),
        (factorize("fc9", &bad, 4, 6, RankRule::Fixed(1), 1).unwrap_err(), "weight[1][1] is NaN"),
        (singular_values("fc9", &[], 0, 3).unwrap_err(), "0 values"),
    ];
    for (error, needle) in cases {
        let message = error.to_string();
        assert!(message.contains("`fc9`") && message.contains(needle), "{message} (wanted {needle})");
    }
}

#[test]
fn factorize_all_matches_each_factorization_in_order() {
    // The largest request in the middle: it runs first, on the caller, the others beside it.
    let mut rng = SmallRng::seed_from_u64(21);
    let shapes = [(20, 30, 5), (40, 64, 12), (16, 10, 4)];
    let weights: Vec<Vec<f32>> = shapes.iter().map(|&(o, i, _)| random_vec(&mut rng, o * i, 1.0)).collect();
    let names = ["a", "b", "c"];
    let requests: Vec<FactorizeRequest<'_>> = shapes
        .iter()
        .zip(&weights)
        .zip(names)
        .map(|((&(outputs, inputs, rank), weight), layer)| FactorizeRequest {
            layer,
            weight,
            outputs,
            inputs,
            rule: RankRule::Fixed(rank),
            capacity: rank,
            method: SvdMethod::Gram,
        })
        .collect();
    let all = factorize_all(&requests);
    assert_eq!(all.len(), 3);
    for (request, result) in requests.iter().zip(all) {
        let got = result.unwrap();
        let alone = factorize_using(request.layer, request.weight, request.outputs, request.inputs, request.rule, request.capacity, request.method)
            .unwrap();
        assert_eq!(got.report.layer, request.layer);
        assert_eq!((got.report.rank, got.report.capacity), (alone.report.rank, alone.report.capacity));
        let (a, b) = (got.report.frobenius_error, alone.report.frobenius_error);
        assert!((a - b).abs() <= 1e-9 * a.max(1.0), "{}: {a} vs {b}", request.layer);
    }
    assert!(factorize_all(&[]).is_empty());
    // An error stays with its request.
    let bad = FactorizeRequest { capacity: 99, ..requests[0] };
    let results = factorize_all(&[requests[2], bad]);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(FactorizeError::RankTooLarge { .. })));
}
