//! Sensitivity analysis of a derived CNN trained briefly on the embedded digits: one entry per
//! prunable (or quantizable) layer, the model untouched afterwards, and per-layer targets that meet
//! the global budget.

#[macro_use]
mod support;

use fasterai::data::{DataLoaders, Dataset};
use fasterai::model::read_tensors;
use fasterai::prelude::*;
use support::models::SmallDigitsNet;

type Input = (usize, Const<1>, Const<8>, Const<8>);

#[test]
fn sensitivities_and_budget_on_a_trained_cnn() {
    let (train, valid) = digits(0.2, 0).unwrap();
    let first = |set: &Dataset, n: usize| set.select(&(0..n).collect::<Vec<_>>()).unwrap();
    let data = DataLoaders::new(first(&train, 512), valid, 32, 0);
    let model = Cpu::seed_from_u64(4).build_module::<SmallDigitsNet, f32>();
    let mut learn: Learner<_, Input, 10> = Learner::new(model, data).with_output(Output::Quiet);
    learn.fit_one_cycle(2, 1e-2).unwrap();
    let before = read_tensors(learn.model());

    let half = Sparsity::from_percent(50.0).unwrap();
    let sparse = analyze_learner(&mut learn, Perturbation::Sparsify(half)).unwrap();
    let names: Vec<&str> = sparse.iter().map(|s| s.layer.as_str()).collect();
    assert_eq!(names, ["conv1", "conv2", "fc1"], "the prunable layers: the classifier is left out");
    assert_eq!(sparse.iter().map(|s| s.weights).collect::<Vec<_>>(), [72, 1152, 8192]);
    let int8 = analyze_learner(&mut learn, Perturbation::QuantizeWeights { bits: 8 }).unwrap();
    assert_eq!(int8.len(), 4, "every conv and linear layer");
    for s in sparse.iter().chain(&int8) {
        eprintln!("{:<6} {:>5} weights: {:.4} -> {:.4} (drop {:+.4})", s.layer, s.weights, s.baseline, s.perturbed, s.drop());
    }
    assert!(int8.iter().all(|s| s.drop().abs() <= 0.03), "8-bit weights barely move the accuracy: {int8:?}");
    assert_eq!(read_tensors(learn.model()), before, "the analysis leaves the model as it found it");

    let targets = targets_for_budget(&sparse, half, BudgetOptions::default()).unwrap();
    let total: usize = sparse.iter().map(|s| s.weights).sum();
    let mean: f64 =
        targets.iter().zip(&sparse).map(|(t, s)| t.sparsity.fraction() * s.weights as f64).sum::<f64>() / total as f64;
    assert!((mean - 0.5).abs() < 1e-9, "the budget is met: {mean}");
    let most = sparse.iter().enumerate().max_by(|a, b| a.1.drop().total_cmp(&b.1.drop())).unwrap().0;
    let least = sparse.iter().enumerate().min_by(|a, b| a.1.drop().total_cmp(&b.1.drop())).unwrap().0;
    assert!(targets[most].sparsity <= targets[least].sparsity, "{targets:?} for {sparse:?}");
}
