//! The three structural passes chained through the public API, as the generated conversion code
//! will chain them: prune exactly-zero neurons (plan saved and loaded as JSON), fold the
//! BatchNorm, factorize a Linear at full rank. The chained model must compute what the original
//! computes, in evaluation mode.

use fasterai_runtime::compress::factorize::{factorize_linear, factorize_linear_with, RankRule};
use fasterai_runtime::compress::fold::fold_linear_bn;
use fasterai_runtime::compress::prune::{
    select_batchnorm1d, select_linear_in, select_linear_out, FilterData, PrunePlan,
};
use fasterai_runtime::dfdx::prelude::*;
use fasterai_runtime::nn::{BatchNorm1D, Linear, ReLU, UnbiasedLinear};
use fasterai_runtime::units::Energy;

/// Hidden neurons of fc1 that sparsification left exactly zero (row, bias, BN γ and β).
const ZEROED: [usize; 2] = [2, 5];

type Original = (Linear<16, 8>, BatchNorm1D<8>, ReLU, Linear<8, 4>);
type Compressed = (UnbiasedLinear<16, 6>, Linear<6, 6>, ReLU, Linear<6, 4>);

fn original(dev: &Cpu) -> Original {
    let mut model: Original = BuildModule::build(dev);
    let (fc1, bn, _, _) = &mut model;
    let mut w = fc1.weight.as_vec();
    let mut b = fc1.bias.as_vec();
    for &o in &ZEROED {
        w[o * 16..(o + 1) * 16].fill(0.0);
        b[o] = 0.0;
    }
    fc1.weight = dev.tensor_from_vec(w, (Const, Const));
    fc1.bias = dev.tensor_from_vec(b, (Const,));
    let gamma: Vec<f32> =
        (0..8).map(|c| if ZEROED.contains(&c) { 0.0 } else { 0.5 + 0.2 * c as f32 }).collect();
    let beta: Vec<f32> =
        (0..8).map(|c| if ZEROED.contains(&c) { 0.0 } else { 0.1 * c as f32 - 0.3 }).collect();
    bn.scale = dev.tensor_from_vec(gamma, (Const,));
    bn.bias = dev.tensor_from_vec(beta, (Const,));
    bn.running_mean = dev.tensor_from_vec((0..8).map(|c| 0.05 * c as f32 - 0.2).collect(), (Const,));
    bn.running_var = dev.tensor_from_vec((0..8).map(|c| 0.4 + 0.15 * c as f32).collect(), (Const,));
    model
}

fn compress(model: &Original, plan_path: &std::path::Path) -> Result<Compressed, fasterai_runtime::Error> {
    let (fc1, bn, relu, fc2) = model;
    // 1. Plan: find the zero neurons, save, load again (what compress! reads at compile time).
    let data = [FilterData::linear("fc1", &fc1.weight, Some(&fc1.bias), Some(bn))];
    let views: Vec<_> = data.iter().map(FilterData::view).collect();
    PrunePlan::from_zero_filters(&views)?.save(plan_path)?;
    let plan = PrunePlan::load(plan_path)?;
    plan.validate(&[("fc1", 8)])?;
    let kept = plan.kept("fc1").expect("the plan names fc1");

    // 2. Prune fc1's outputs, the BatchNorm's entries and fc2's inputs.
    let (w1, b1) = select_linear_out::<16, 8, 6>("fc1", &fc1.weight, &fc1.bias, kept)?;
    let bn: BatchNorm1D<6> = select_batchnorm1d("bn1", bn, kept)?;
    let fc2 =
        Linear::<6, 4> { weight: select_linear_in("fc2", &fc2.weight, 1, kept)?, bias: fc2.bias.clone() };

    // 3. Fold the BatchNorm into fc1.
    let (weight, bias) = fold_linear_bn("fc1", &w1, Some(&b1), &bn)?;
    let fc1 = Linear::<16, 6> { weight, bias };

    // 4. Factorize fc1 at full rank (exact up to rounding).
    let (first, second) = factorize_linear::<16, 6, 6>("fc1", &fc1)?;
    Ok((first, second, *relu, fc2))
}

#[test]
fn prune_fold_factorize_chain_preserves_the_outputs() {
    let dev: Cpu = Default::default();
    let model = original(&dev);
    let dir = std::env::temp_dir().join(format!("fasterai-structural-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let compressed = compress(&model, &dir.join("plan.json"));
    std::fs::remove_dir_all(&dir).unwrap();
    let compressed = compressed.unwrap();

    let x: Tensor<(usize, Const<16>), f32, Cpu> = dev.sample_normal_like(&(10, Const));
    let expected = model.forward(x.clone()).as_vec();
    let got = compressed.forward(x).as_vec();
    let worst = expected.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "compressed model differs by {worst}");
    // 2 of 8 hidden neurons are gone; the outputs are not trivially zero.
    assert!(expected.iter().any(|v| v.abs() > 1e-2));
}

#[test]
fn energy_rule_inside_a_fixed_capacity_reports_the_rank_it_used() {
    let dev: Cpu = Default::default();
    // A rank-2 weight (outer products of two pairs of vectors) inside a capacity of 5.
    let u: Vec<f32> = (0..12).map(|k| (k as f32 * 0.7).sin()).collect();
    let v: Vec<f32> = (0..20).map(|k| (k as f32 * 0.3).cos()).collect();
    let w: Vec<f32> =
        (0..12 * 10).map(|k| u[k / 10] * v[k % 10] + 0.5 * u[11 - k / 10] * v[10 + k % 10]).collect();
    let fc = Linear::<10, 12> { weight: dev.tensor_from_vec(w, (Const, Const)), bias: dev.zeros() };
    let rule = RankRule::Energy(Energy::from_percent(99.9).unwrap());
    let (first, second, report) = factorize_linear_with::<10, 12, 5>("fc", &fc, rule).unwrap();
    assert_eq!((report.rank, report.capacity, report.capped), (2, 5, false));
    assert!(report.relative_error < 1e-6);
    // Rows 2..5 of the first weight are zero-filled; the pair still computes fc.
    assert!(first.weight.as_vec()[2 * 10..].iter().all(|&x| x == 0.0));
    let x: Tensor<(usize, Const<10>), f32, Cpu> = dev.sample_normal_like(&(3, Const));
    let (a, b) = (fc.forward(x.clone()).as_vec(), second.forward(first.forward(x)).as_vec());
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-4));
}
