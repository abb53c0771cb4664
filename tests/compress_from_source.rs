//! `compress!`'s generated `from_source`: a pruned copy of a trained model that computes the same
//! outputs when the pruned filters contribute nothing, and round trips through safetensors.

#[macro_use]
mod support;

use fasterai::dfdx::shapes::Const;
use fasterai::compress::prune::LayerPlan;
use fasterai::dfdx::tensor::{AsArray, SampleTensor};
use fasterai::prelude::*;
use support::models::SmallVgg;

compress! {
    /// conv2 to 16 filters, conv4 to 48.
    pub Narrow = SmallVgg { prune(conv2 = 16, conv4 = 48) }
}

type Images = Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>;

/// Zeroes γ and β of `bn` at the channels not in `kept`: those channels output exactly 0.
fn silence<const C: usize>(dev: &Cpu, bn: &mut BatchNorm2D<C>, kept: &[usize]) {
    let mut gamma = bn.weight.as_vec();
    let mut beta = bn.bias.as_vec();
    for c in (0..C).filter(|c| !kept.contains(c)) {
        gamma[c] = 0.0;
        beta[c] = 0.0;
    }
    bn.weight = dev.tensor_from_vec(gamma, (Const::<C>,));
    bn.bias = dev.tensor_from_vec(beta, (Const::<C>,));
}

fn trained(dev: &Cpu) -> (SmallVgg, PrunePlan) {
    let mut model = dev.build_module::<SmallVgg, f32>();
    let conv2_kept: Vec<usize> = (0..32).step_by(2).collect();
    let conv4_kept: Vec<usize> = (0..64).filter(|c| c % 4 != 1).collect();
    assert_eq!((conv2_kept.len(), conv4_kept.len()), (16, 48));
    silence(dev, &mut model.bn2, &conv2_kept);
    silence(dev, &mut model.bn4, &conv4_kept);
    let plan = PrunePlan::new(vec![
        LayerPlan { name: "conv2".into(), width: 32, kept: conv2_kept },
        LayerPlan { name: "conv4".into(), width: 64, kept: conv4_kept },
    ])
    .unwrap();
    (model, plan)
}

#[test]
fn pruning_silent_filters_changes_no_output() {
    let dev = Cpu::default();
    let (model, plan) = trained(&dev);
    let narrow = Narrow::from_source(&model, &plan).unwrap();
    let x: Images = dev.sample_normal_like(&(4, Const, Const, Const));
    let before = model.forward(x.clone()).as_vec();
    let after = narrow.forward(x).as_vec();
    let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (b, a) in before.iter().zip(&after) {
        assert!((b - a).abs() <= 1e-5 * scale, "{b} vs {a}");
    }
    // The kept filters are the plan's: conv2's filter 1 of the pruned model is the source's 2.
    assert_eq!(narrow.conv2.weight.array()[1], model.conv2.weight.array()[2]);
}

#[test]
fn a_plan_whose_count_differs_from_the_type_is_an_error() {
    let dev = Cpu::default();
    let (model, _) = trained(&dev);
    let plan = PrunePlan::new(vec![LayerPlan { name: "conv2".into(), width: 32, kept: vec![0, 1, 2] }]).unwrap();
    let error = Narrow::from_source(&model, &plan).err().expect("3 kept filters do not fit 16");
    assert!(error.to_string().contains("conv2"), "{error}");
}

#[test]
fn the_pruned_type_round_trips_through_safetensors() {
    let dev = Cpu::default();
    let (model, plan) = trained(&dev);
    let narrow = Narrow::from_source(&model, &plan).unwrap();
    let path = std::env::temp_dir().join(format!("fasterai-narrow-{}.safetensors", std::process::id()));
    narrow.save_safetensors(&path).unwrap();
    let mut loaded = dev.build_module::<Narrow, f32>();
    loaded.load_safetensors(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.conv4.weight.as_vec(), narrow.conv4.weight.as_vec());
    assert_eq!(loaded.fc1.weight.as_vec(), narrow.fc1.weight.as_vec());
    assert_eq!(loaded.bn2.running_var.as_vec(), narrow.bn2.running_var.as_vec());
}
