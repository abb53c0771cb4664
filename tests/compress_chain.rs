//! `compress!` blocks with several structural stages: the generated `from_source` runs prune →
//! fold → factorize through hidden intermediate types, and `factorize(.., energy = ..)` picks the
//! rank at run time within the type's maximum.

#[macro_use]
mod support;

use fasterai::compress::prune::LayerPlan;
use fasterai::dfdx::shapes::Const;
use fasterai::dfdx::tensor::SampleTensor;
use fasterai::prelude::*;
use support::models::DigitsNet;
use rand::{rngs::StdRng, Rng, SeedableRng};

compress! {
    /// Half the filters, BatchNorms folded, fc1 at rank 32 (the tests give fc1 a rank-2 weight, so
    /// outputs are unchanged; full rank would make fc1 bigger, which `compress!` refuses).
    pub Chained = DigitsNet { prune(conv1 = 8, conv2 = 16), fold(), factorize(fc1 = 32) }
}

compress! {
    /// fc1 at most rank 32, the rank chosen to keep 99% of the energy.
    pub Energetic = DigitsNet { factorize(fc1 = 32, energy = 99%) }
}

compress! {
    /// Fold then factorize: no prune, so `from_source` takes no plan.
    pub FoldedLowRank = DigitsNet { fold(), factorize(fc1 = 32) }
}

type Images = Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu>;

/// Gives fc1 a weight of rank 2 (the sum of two outer products), which any rank ≥ 2 keeps exactly.
fn rank_two_fc1(dev: &Cpu, rng: &mut StdRng, model: &mut DigitsNet) {
    let vecs: Vec<Vec<f32>> = (0..4).map(|i| (0..if i % 2 == 0 { 64 } else { 512 }).map(|_| rng.gen_range(-0.1..0.1)).collect()).collect();
    let weight: Vec<f32> = (0..64 * 512).map(|k| (k / 512, k % 512)).map(|(o, i)| vecs[0][o] * vecs[1][i] + vecs[2][o] * vecs[3][i]).collect();
    model.fc1.weight = dev.tensor_from_vec(weight, (Const::<64>, Const::<512>));
}

/// Random BatchNorm statistics (as after training), and γ = β = 0 outside `kept`.
fn randomize<const C: usize>(dev: &Cpu, rng: &mut StdRng, bn: &mut BatchNorm2D<C>, kept: &[usize]) {
    let mut draw = |low: f32, high: f32| -> Vec<f32> { (0..C).map(|_| rng.gen_range(low..high)).collect() };
    let (mut gamma, mut beta) = (draw(0.5, 1.5), draw(-0.5, 0.5));
    for c in (0..C).filter(|c| !kept.contains(c)) {
        gamma[c] = 0.0;
        beta[c] = 0.0;
    }
    bn.weight = dev.tensor_from_vec(gamma, (Const::<C>,));
    bn.bias = dev.tensor_from_vec(beta, (Const::<C>,));
    bn.running_mean = dev.tensor_from_vec(draw(-0.3, 0.3), (Const::<C>,));
    bn.running_var = dev.tensor_from_vec(draw(0.5, 2.0), (Const::<C>,));
}

fn worst_gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn prune_fold_factorize_in_one_block_keeps_the_outputs() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(3);
    let mut model = dev.build_module::<DigitsNet, f32>();
    let conv1_kept: Vec<usize> = (0..16).filter(|c| c % 2 == 1).collect();
    let conv2_kept: Vec<usize> = (0..32).filter(|c| c % 4 < 2).collect();
    randomize(&dev, &mut rng, &mut model.bn1, &conv1_kept);
    randomize(&dev, &mut rng, &mut model.bn2, &conv2_kept);
    rank_two_fc1(&dev, &mut rng, &mut model);
    let plan = PrunePlan::new(vec![
        LayerPlan { name: "conv1".into(), width: 16, kept: conv1_kept },
        LayerPlan { name: "conv2".into(), width: 32, kept: conv2_kept },
    ])
    .unwrap();

    let chained = Chained::from_source(&model, &plan).unwrap();
    assert!(Chained::LAYERS.iter().all(|l| !matches!(l.kind, LayerKindInfo::BatchNorm2D { .. })));
    assert_eq!(Chained::layer("fc1_in").unwrap().kind, LayerKindInfo::Linear { in_features: 256, out_features: 32, bias: false });

    let x: Images = dev.sample_normal_like(&(5, Const, Const, Const));
    let before = model.forward(x.clone()).as_vec();
    let after = chained.forward(x).as_vec();
    assert!(before.iter().any(|v| v.abs() > 1e-2));
    assert!(worst_gap(&before, &after) <= 1e-3, "largest difference {}", worst_gap(&before, &after));
}

#[test]
fn a_chain_without_prune_takes_no_plan() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(4);
    let mut model = dev.build_module::<DigitsNet, f32>();
    randomize(&dev, &mut rng, &mut model.bn1, &(0..16).collect::<Vec<_>>());
    randomize(&dev, &mut rng, &mut model.bn2, &(0..32).collect::<Vec<_>>());
    rank_two_fc1(&dev, &mut rng, &mut model);
    let converted = FoldedLowRank::from_source(&model).unwrap();
    let x: Images = dev.sample_normal_like(&(3, Const, Const, Const));
    let gap = worst_gap(&model.forward(x.clone()).as_vec(), &converted.forward(x).as_vec());
    assert!(gap <= 1e-3, "largest difference {gap}");
}

#[test]
fn the_energy_rule_keeps_a_low_rank_layer_exactly_and_zero_fills_the_rest() {
    let dev = Cpu::default();
    let mut model = dev.build_module::<DigitsNet, f32>();
    let mut rng = StdRng::seed_from_u64(5);
    rank_two_fc1(&dev, &mut rng, &mut model);

    let converted = Energetic::from_source(&model).unwrap();
    let first = converted.fc1_in.weight.as_vec();
    let nonzero_rows = first.chunks(512).filter(|row| row.iter().any(|v| *v != 0.0)).count();
    assert_eq!(nonzero_rows, 2, "rank 2 holds all the energy");
    let x: Images = dev.sample_normal_like(&(3, Const, Const, Const));
    let gap = worst_gap(&model.forward(x.clone()).as_vec(), &converted.forward(x).as_vec());
    assert!(gap <= 1e-4, "largest difference {gap}");
}
