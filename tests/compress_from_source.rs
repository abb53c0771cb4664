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
    support::assert_same_outputs(&before, &after);
    // The kept filters are the plan's: conv2's filter 1 of the pruned model is the source's 2.
    assert_eq!(narrow.conv2.weight.array()[1], model.conv2.weight.array()[2]);
}

#[test]
fn a_plan_whose_count_differs_from_the_type_is_an_error() {
    let dev = Cpu::default();
    let (model, _) = trained(&dev);
    let plan = PrunePlan::new(vec![LayerPlan { name: "conv2".into(), width: 32, kept: vec![0, 1, 2] }]).unwrap();
    let error = Narrow::from_source(&model, &plan).err().expect("3 kept filters do not fit 16").to_string();
    // The first disagreement in model order: conv2 keeps 3 where Narrow has 16.
    assert!(error.contains("the prune plan keeps 3 channels of `conv2`, but `Narrow` gives `conv2` 16"), "{error}");
}

#[test]
fn the_pruned_type_round_trips_through_safetensors() {
    let dev = Cpu::default();
    let (model, plan) = trained(&dev);
    let narrow = Narrow::from_source(&model, &plan).unwrap();
    let loaded = support::safetensors::round_trip(&narrow, dev.build_module::<Narrow, f32>(), "narrow");
    assert_eq!(loaded.conv4.weight.as_vec(), narrow.conv4.weight.as_vec());
    assert_eq!(loaded.fc1.weight.as_vec(), narrow.fc1.weight.as_vec());
    assert_eq!(loaded.bn2.running_var.as_vec(), narrow.bn2.running_var.as_vec());
}

/// A plan for another model with the same layer names (its conv2 had 64 filters): refused before
/// anything is copied, naming the layer, both widths and what to do.
#[test]
fn a_plan_made_for_another_model_is_refused() {
    let dev = Cpu::default();
    let (model, _) = trained(&dev);
    let conv4_kept: Vec<usize> = (0..48).collect();
    let plan = PrunePlan::new(vec![
        LayerPlan { name: "conv2".into(), width: 64, kept: (0..16).collect() },
        LayerPlan { name: "conv4".into(), width: 64, kept: conv4_kept },
    ])
    .unwrap();
    let error = Narrow::from_source(&model, &plan).err().expect("conv2 has 32 filters, not 64").to_string();
    assert!(
        error.contains(
            "this plan was made for a model where `conv2` has 64 filters, but this model's `conv2` has 32; \
             make the plan from this model"
        ),
        "{error}"
    );
}

#[test]
fn a_plan_naming_an_unknown_layer_or_missing_a_narrowed_one_is_refused() {
    let dev = Cpu::default();
    let (model, plan) = trained(&dev);
    let mut layers = plan.layers().to_vec();
    layers.push(LayerPlan { name: "conv9".into(), width: 8, kept: vec![0] });
    let error = Narrow::from_source(&model, &PrunePlan::new(layers).unwrap()).err().unwrap().to_string();
    assert!(error.contains("names `conv9`, which is not a prunable layer of the model"), "{error}");

    // Narrow narrows conv4 too; a plan without it would keep conv4 whole, which Narrow cannot hold.
    let only_conv2 = PrunePlan::new(vec![plan.get("conv2").unwrap().clone()]).unwrap();
    let error = Narrow::from_source(&model, &only_conv2).err().unwrap().to_string();
    assert!(
        error.contains("the prune plan has no entry for `conv4`, but `Narrow` gives `conv4` 48 of its 64 channels"),
        "{error}"
    );
    assert!(PrunePlan::new(vec![]).is_err());
}
