//! Sensitivity on small MLPs described by hand, with metrics whose drops follow from literal
//! weights, and the budget rule on literal drops (expected values worked out in the comments).

use super::*;
use crate::data::{DataLoaders, Dataset};
use crate::learn::Output;
use crate::model::{read_tensors, Coupling, LayerInfo, ShapeInfo};
use crate::nn::Linear;
use dfdx::nn::modules::ReLU;
use dfdx::prelude::*;

type Net = (Linear<3, 2>, ReLU, Linear<2, 2>);


/// Fields `0` (prunable), `1` (ReLU), `2` (the classifier).
impl Compressible for Net {
    const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
    const LAYERS: &'static [LayerInfo] = &[
        LayerInfo::flat("0", LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true }, 3, 2, 8),
        LayerInfo::flat("1", LayerKindInfo::Activation { name: "ReLU" }, 2, 2, 0),
        LayerInfo::flat("2", LayerKindInfo::Linear { in_features: 2, out_features: 2, bias: true }, 2, 2, 6),
    ];
    const COUPLINGS: &'static [Coupling] = &[Coupling { producer: "0", batch_norm: None, consumer: "2", group: 1 }];
}

/// A lone classifier: nothing prunable.
type Lone = (Linear<2, 2>,);
impl Compressible for Lone {
    const INPUT: ShapeInfo = ShapeInfo::Flat { n: 2 };
    const LAYERS: &'static [LayerInfo] =
        &[LayerInfo::flat("0", LayerKindInfo::Linear { in_features: 2, out_features: 2, bias: true }, 2, 2, 6)];
    const COUPLINGS: &'static [Coupling] = &[];
}

fn net(first: [[f32; 3]; 2]) -> Net {
    let dev = Cpu::default();
    let mut n = Net::build(&dev);
    n.0.weight = dev.tensor(first);
    n
}

fn sum_of_first(n: &Net) -> Result<f64, std::convert::Infallible> {
    Ok(n.0.weight.as_vec().iter().map(|&w| f64::from(w)).sum())
}

#[test]
fn sparsifying_drops_the_filters_of_smallest_l1_and_restores_them() {
    // Rows of L1 6 and 1.5: 50% of two filters drops the second, whose sum is 1.5.
    let mut model = net([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]);
    let before = read_tensors(&model);
    let result =
        analyze(&mut model, Perturbation::Sparsify(Sparsity::from_percent(50.0).unwrap()), sum_of_first).unwrap();
    assert_eq!(result.len(), 1, "only layer 0 is prunable");
    assert_eq!((result[0].layer.as_str(), result[0].weights), ("0", 6));
    assert_eq!((result[0].baseline, result[0].perturbed, result[0].drop()), (7.5, 6.0, 1.5));
    assert_eq!(read_tensors(&model), before, "weights put back");
}

#[test]
fn quantizing_covers_every_linear_layer_at_the_given_bits() {
    // 8 bits, row scales 1 and 0.5: [127, 0.4, −3.5] → [127, 0, −4]; [63.5, 1.25, 0.3] → [63.5, 1, 0.5].
    let mut model = net([[127.0, 0.4, -3.5], [63.5, 1.25, 0.3]]);
    let before = read_tensors(&model);
    let result = analyze(&mut model, Perturbation::QuantizeWeights { bits: 8 }, sum_of_first).unwrap();
    let layers: Vec<&str> = result.iter().map(|r| r.layer.as_str()).collect();
    assert_eq!(layers, ["0", "2"]);
    assert!((result[0].perturbed - 188.0).abs() < 1e-9, "{:?}", result[0]);
    assert!((result[0].drop() - 0.95).abs() < 1e-5, "{:?}", result[0]);
    assert_eq!(result[1].drop(), 0.0, "the metric ignores layer 2");
    assert_eq!(read_tensors(&model), before);
    let err = analyze(&mut model, Perturbation::QuantizeWeights { bits: 1 }, sum_of_first).unwrap_err();
    assert!(matches!(err, SensitivityError::Quant(QuantError::UnsupportedBits(1))), "{err}");
}

#[test]
fn a_failing_or_non_finite_evaluation_is_an_error_and_the_weights_come_back() {
    let mut model = net([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]);
    let before = read_tensors(&model);
    let mut calls = 0;
    let fails_second = |_: &Net| {
        calls += 1;
        if calls == 2 {
            Err(std::io::Error::other("validation broke"))
        } else {
            Ok(1.0)
        }
    };
    let err = analyze(&mut model, Perturbation::Sparsify(Sparsity::FULL), fails_second).unwrap_err();
    assert!(err.to_string().contains("validation broke"), "{err}");
    assert_eq!(read_tensors(&model), before, "restored before the error is returned");
    let err = analyze(&mut model, Perturbation::Sparsify(Sparsity::FULL), |_: &Net| Ok::<_, std::io::Error>(f64::NAN));
    assert!(matches!(err, Err(SensitivityError::NonFiniteMetric { .. })));
    let mut lone: Lone = (Linear::<2, 2>::build(&Cpu::default()),);
    let metric = |_: &Lone| Ok::<_, std::io::Error>(1.0);
    let err = analyze(&mut lone, Perturbation::Sparsify(Sparsity::FULL), metric).unwrap_err();
    assert!(matches!(err, SensitivityError::NoLayer { what: "prunable layer" }), "{err}");
    assert_eq!(analyze(&mut lone, Perturbation::QuantizeWeights { bits: 4 }, metric).unwrap().len(), 1);
}

#[test]
fn the_learner_reports_validation_accuracy_and_keeps_its_model() {
    let x: Vec<f32> = (0..24).map(|i| ((i * 5) % 7) as f32 / 3.0 - 1.0).collect();
    let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
    let set = Dataset::new(x, labels, [1, 1, 3], 2).unwrap();
    let model = net([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]]);
    let mut learn: Learner<_, (usize, Const<3>), 2> =
        Learner::new(model, DataLoaders::new(set.clone(), set, 4, 0)).with_output(Output::Quiet);
    let accuracy = learn.validate().unwrap().accuracy.get();
    let before = read_tensors(learn.model());
    let result = analyze_learner(&mut learn, Perturbation::Sparsify(Sparsity::FULL)).unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].baseline, accuracy);
    assert!((0.0..=1.0).contains(&result[0].perturbed));
    assert_eq!(read_tensors(learn.model()), before);
}

fn sensitivity(name: &str, weights: usize, drop: f64) -> LayerSensitivity {
    LayerSensitivity { layer: name.into(), weights, baseline: 0.9, perturbed: 0.9 - drop }
}

fn shares(targets: &[LayerTarget]) -> Vec<f64> {
    targets.iter().map(|t| t.sparsity.fraction()).collect()
}

fn half() -> Sparsity {
    Sparsity::from_percent(50.0).unwrap()
}

#[test]
fn the_budget_rule_on_literal_drops() {
    let layers = [sensitivity("a", 100, 0.3), sensitivity("b", 300, 0.0), sensitivity("c", 600, 0.1)];
    // n = [1, 0, 1/3]; γ = 1: s₀ = [0, 0.9, 0.6]. With λ < 0, a clamps to 0 and
    // (300·(0.9 + λ) + 600·(0.6 + λ)) / 1000 = 0.5 gives λ = −13/90.
    let got = shares(&targets_for_budget(&layers, half(), BudgetOptions::default()).unwrap());
    let want = [0.0, 0.9 - 13.0 / 90.0, 0.6 - 13.0 / 90.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
    // γ = 2: s₀ = [0, 0.9, 0.9·(2/3)² = 0.4]; (300·(0.9 + λ) + 600·(0.4 + λ)) / 1000 = 0.5 gives λ = −1/90.
    let options = BudgetOptions { gamma: 2.0, ..BudgetOptions::default() };
    let got = shares(&targets_for_budget(&layers, half(), options).unwrap());
    let want = [0.0, 0.9 - 1.0 / 90.0, 0.4 - 1.0 / 90.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "γ = 2: {got:?} vs {want:?}");
    }
}

#[test]
fn equal_or_negative_drops_share_the_budget_equally() {
    let layers = [sensitivity("a", 10, -0.2), sensitivity("b", 30, 0.0), sensitivity("c", 60, -0.01)];
    let got = shares(&targets_for_budget(&layers, half(), BudgetOptions::default()).unwrap());
    assert!(got.iter().all(|s| (s - 0.5).abs() < 1e-9), "improvements count as no drop: {got:?}");
    let names: Vec<String> =
        targets_for_budget(&layers, half(), BudgetOptions::default()).unwrap().into_iter().map(|t| t.layer).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn the_bounds_hold_and_impossible_budgets_are_errors() {
    let layers = [sensitivity("a", 100, 0.5), sensitivity("b", 100, 0.0)];
    let options = BudgetOptions {
        min: Sparsity::from_percent(20.0).unwrap(),
        max: Sparsity::from_percent(60.0).unwrap(),
        gamma: 1.0,
    };
    let got = shares(&targets_for_budget(&layers, Sparsity::from_percent(30.0).unwrap(), options).unwrap());
    // s₀ = [0.2, 0.6]; λ = −0.2 clamps a at 0.2 and puts b at 0.4: mean 0.3.
    assert!((got[0] - 0.2).abs() < 1e-9 && (got[1] - 0.4).abs() < 1e-9, "{got:?}");
    for (global, options, why) in [
        (Sparsity::from_percent(95.0).unwrap(), BudgetOptions::default(), "above the 90% ceiling"),
        (Sparsity::from_percent(10.0).unwrap(), options, "below the 20% floor"),
        (half(), BudgetOptions { gamma: 0.0, ..BudgetOptions::default() }, "gamma 0"),
        (half(), BudgetOptions { min: Sparsity::FULL, max: half(), gamma: 1.0 }, "min above max"),
    ] {
        assert!(matches!(targets_for_budget(&layers, global, options), Err(SensitivityError::Budget { .. })), "{why}");
    }
    assert!(targets_for_budget(&[], half(), BudgetOptions::default()).is_err(), "no layer");
    assert!(targets_for_budget(&[sensitivity("a", 0, 0.1)], half(), BudgetOptions::default()).is_err(), "no weights");
}
