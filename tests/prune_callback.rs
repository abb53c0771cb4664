//! `PruneCallback` on digits: filters masked along the schedule while fine-tuning, the plan of the
//! zero filters read back after `fit` (also through a handle, once the callback moved into the
//! learner), the conversion to `compress!`-generated pruned types through `PrunePlan::convert`, and
//! the errors for a ratio the pruned type was not declared with.

#[macro_use]
mod support;

use fasterai::compress::prune::{PruneCallback, PrunePlan};
use fasterai::compress::sparsify::{Budget, Context as Ranking, Criteria, Criterion, GlobalOptions, SparsitySchedule};
use fasterai::compress::{PruneError, StructError};
use fasterai::data::DataLoaders;
use fasterai::dfdx::shapes::Const;
use fasterai::dfdx::tensor::SampleTensor;
use fasterai::learn::LrSchedule;
use fasterai::prelude::*;
use support::models::SmallDigitsNet;

compress! {
    /// Half the filters of each convolution.
    pub Pruned = SmallDigitsNet { prune(conv1 = 4, conv2 = 8) }
}

compress! {
    /// Half the filters, then the BatchNorms folded (a chained conversion).
    pub PrunedFolded = SmallDigitsNet { prune(conv1 = 4, conv2 = 8), fold() }
}

type Input = (usize, Const<1>, Const<8>, Const<8>);

fn half() -> Ratio {
    Ratio::from_percent(50.0).unwrap()
}

fn large_final() -> Criteria {
    Criteria::new(Criterion::LargeFinal)
}

fn learner(seed: u64) -> Learner<SmallDigitsNet, Input, 10> {
    let (train, valid) = fasterai::data::digits(0.2, 0).unwrap();
    let data = DataLoaders::new(train.subset(96, 1).unwrap(), valid.subset(32, 2).unwrap(), 16, 0);
    let dev = Cpu::seed_from_u64(seed);
    let mut model = dev.build_module::<SmallDigitsNet, f32>();
    model.bn1.bias = dev.sample_normal();
    model.bn2.bias = dev.sample_normal();
    Learner::new(model, data).with_output(Output::Quiet)
}

/// The largest difference between the two models' logits on random images, relative to their scale.
fn relative_gap(masked: &SmallDigitsNet, pruned: &impl Module<Tensor<Input, f32, Cpu>, Output = Tensor<(usize, Const<10>), f32, Cpu>>) -> f32 {
    let x: Tensor<Input, f32, Cpu> = Cpu::seed_from_u64(99).sample_normal_like(&(8, Const, Const, Const));
    let before = masked.forward(x.clone()).as_vec();
    let after = pruned.forward(x).as_vec();
    let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    before.iter().zip(&after).map(|(b, a)| (b - a).abs() / scale).fold(0.0, f32::max)
}

#[test]
fn half_the_filters_while_training_then_the_pruned_type_computes_the_same() {
    let callback = PruneCallback::<SmallDigitsNet>::new(half(), SparsitySchedule::cos(), Ranking::Local, large_final())
        .unwrap()
        .with_output(Output::Quiet);
    callback.check_fits::<Pruned>().unwrap();
    callback.check_fits::<PrunedFolded>().unwrap();
    assert!(callback.plan().is_none(), "no plan before fit");
    let handle = callback.plan_handle();
    let mut learn = learner(1).with_callback(callback);
    learn.fit(2, 1e-2).unwrap(); // 12 steps
    let masked = learn.into_model();

    let plan: PrunePlan = handle.get().expect("the plan is made when fit ends");
    let widths: Vec<(&str, usize, usize)> =
        plan.layers().iter().map(|l| (l.name.as_str(), l.width, l.new_width())).collect();
    assert_eq!(widths, [("conv1", 8, 4), ("conv2", 16, 8), ("fc1", 32, 32)]);

    let pruned: Pruned = plan.convert(&masked).unwrap();
    let gap = relative_gap(&masked, &pruned);
    assert!(gap <= 1e-5, "pruned vs masked: {gap}");
    let folded: PrunedFolded = plan.convert(&masked).unwrap();
    let gap = relative_gap(&masked, &folded);
    assert!(gap <= 1e-4, "pruned and folded vs masked: {gap}");
    assert!(pruned.num_trainable_params() < masked.num_trainable_params());
}

#[test]
fn global_pruning_shares_the_filters_across_layers() {
    // Balanced ranking with the budget counted in filters: exactly half of all filters go.
    let filters_budget = GlobalOptions { budget: Budget::Groups, ..GlobalOptions::balanced() };
    let mut callback =
        PruneCallback::<SmallDigitsNet>::new(half(), SparsitySchedule::lin(), Ranking::Global(filters_budget), large_final())
            .unwrap()
            .with_output(Output::Quiet);
    assert_eq!(callback.targets().iter().map(|t| t.name).collect::<Vec<_>>(), ["conv1", "conv2"]);
    callback.check_fits::<Pruned>().expect("global widths are only known after training");
    let mut learn = learner(2);
    learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut callback]).unwrap();
    assert_eq!(callback.history().len(), 2);
    let plan = callback.plan().unwrap();
    let kept: usize = plan.layers().iter().filter(|l| l.name != "fc1").map(|l| l.new_width()).sum();
    assert_eq!(kept, 12, "half of the 24 filters, shared across the two layers");
    for l in plan.layers().iter().filter(|l| l.name != "fc1") {
        assert!(l.new_width() >= l.width / 4, "balanced ranking keeps a quarter of {}: {}", l.name, l.new_width());
    }
}

#[test]
fn a_ratio_the_pruned_type_was_not_declared_with_is_refused() {
    let quarter = Ratio::from_percent(25.0).unwrap();
    let mut callback = PruneCallback::<SmallDigitsNet>::new(quarter, SparsitySchedule::lin(), Ranking::Local, large_final())
        .unwrap()
        .with_output(Output::Quiet);
    // Before training: 25% of conv1's 8 filters keeps 6, and `Pruned` declares 4.
    let error = callback.check_fits::<Pruned>().unwrap_err();
    assert!(
        matches!(&error, PruneError::RatioMismatch { layer, width: 8, kept: 6, declared: 4, .. } if layer == "conv1"),
        "{error}"
    );
    assert!(error.to_string().contains("25.00%") && error.to_string().contains("Pruned"), "{error}");

    // After training anyway, the conversion refuses the plan.
    let mut learn = learner(3);
    learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut callback]).unwrap();
    let plan = callback.plan().unwrap();
    assert_eq!(plan.kept("conv1").map(<[usize]>::len), Some(6));
    let Err(error) = plan.convert::<Pruned, _>(learn.model()) else { panic!("6 filters do not fit a width of 4") };
    assert!(
        matches!(&error, StructError::Prune(PruneError::PlanTypeMismatch { layer, kept: 6, declared: 4, .. }) if layer == "conv1"),
        "{error}"
    );
}
