//! `compress!` generates types whose sizes come from the schedule: prune (ratio, widths, plan
//! file), fold and factorize, each checked again by `#[derive(Compressible)]`.

#[macro_use]
mod support;

use fasterai::dfdx::shapes::{Const, HasShape};
use fasterai::dfdx::tensor::ZerosTensor;
use fasterai::prelude::*;
use support::models::SmallVgg;

compress! {
    /// DESIGN.md's schedule: distilled, half the filters, BN folded, fc1 factorized, int8.
    pub Deployed = SmallVgg {
        distill(teacher: SmallVgg, loss = SoftTarget(temperature = 3.0, alpha = 0.5), epochs = 10, lr = 1e-4),
        sparsify(50%, granularity = filter, context = local, criteria = large_final, schedule = cos, epochs = 10, lr = 1e-5),
        prune(50%, epochs = 5, lr = 1e-5),
        fold(),
        factorize(0.5, epochs = 5, lr = 1e-5),
        quantize(epochs = 5, lr = 1e-5),
    }
}

compress! {
    /// Two layers pruned to explicit widths.
    pub Narrow = SmallVgg { prune(conv2 = 16, conv4 = 48) }
}

compress! {
    /// Widths from a plan saved by a run.
    pub Planned = SmallVgg { prune(plan = "tests/data/small_vgg_plan.json") }
}

compress! {
    /// Only the BatchNorms folded.
    pub Folded = SmallVgg { fold() }
}

compress! {
    /// fc1 at rank 32.
    pub LowRank = SmallVgg { factorize(fc1 = 32) }
}

fn layer_kind<M: Compressible>(name: &str) -> LayerKindInfo {
    M::layer(name).unwrap_or_else(|| panic!("no layer {name}")).kind.clone()
}

#[test]
fn the_design_schedule_halves_folds_and_factorizes() {
    assert!(Deployed::layer("bn1").is_none());
    assert_eq!(
        layer_kind::<Deployed>("conv2"),
        LayerKindInfo::Conv2D { in_channels: 16, out_channels: 16, kernel: 3, stride: 1, padding: 1, bias: true }
    );
    assert_eq!(layer_kind::<Deployed>("fc1_in"), LayerKindInfo::Linear { in_features: 32 * 49, out_features: 64, bias: false });
    assert_eq!(layer_kind::<Deployed>("fc1_out"), LayerKindInfo::Linear { in_features: 64, out_features: 128, bias: true });
    // convs 160 + 2320 + 4640 + 9248, fc1 1568·64 + 64·128 + 128, fc2 128·10 + 10
    assert_eq!(Deployed::num_params(), 160 + 2320 + 4640 + 9248 + 1568 * 64 + 64 * 128 + 128 + 1290);

    let dev = Cpu::default();
    let model = dev.build_module::<Deployed, f32>();
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.zeros_like(&(3, Const, Const, Const));
    let y: Tensor<(usize, Const<10>), f32, Cpu> = model.forward(x);
    assert_eq!(y.shape().0, 3);
}

#[test]
fn explicit_widths_rewire_batch_norm_next_conv_and_flattened_linear() {
    assert_eq!(layer_kind::<Narrow>("bn2"), LayerKindInfo::BatchNorm2D { channels: 16 });
    assert!(matches!(layer_kind::<Narrow>("conv3"), LayerKindInfo::Conv2D { in_channels: 16, out_channels: 64, .. }));
    assert_eq!(layer_kind::<Narrow>("fc1"), LayerKindInfo::Linear { in_features: 48 * 49, out_features: 256, bias: true });
}

#[test]
fn a_plan_file_sizes_the_type() {
    let plan = PrunePlan::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/small_vgg_plan.json")).unwrap();
    for layer in plan.layers() {
        let width = match layer_kind::<Planned>(&layer.name) {
            LayerKindInfo::Conv2D { out_channels, .. } => out_channels,
            LayerKindInfo::Linear { out_features, .. } => out_features,
            other => panic!("{other:?}"),
        };
        assert_eq!(width, layer.new_width(), "{}", layer.name);
    }
}

#[test]
fn fold_and_factorize_alone() {
    assert_eq!(Folded::num_params(), 871_018 - 2 * (32 + 32 + 64 + 64));
    assert!(matches!(layer_kind::<Folded>("conv1"), LayerKindInfo::Conv2D { bias: true, .. }));
    assert_eq!(LowRank::num_params(), 871_018 - (3136 * 256) + 3136 * 32 + 32 * 256);
}
