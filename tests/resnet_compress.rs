//! `compress!` on a residual network: one width per channel group, the generated type nesting its
//! blocks, `from_source` copying the kept channels through the skip adds (pruning filters zeroed
//! through a whole group changes no output), folding every BatchNorm (the shortcut's too), a plan
//! that splits a group refused, and the whole schedule run on the digits.

#[macro_use]
mod support;

use fasterai::compress::prune::{coupled_groups, group_plans, LayerPlan};
use fasterai::compress::sparsify::{Context as Ranking, ConvGranularity, Criteria, Criterion, Granularity};
use fasterai::data::{DataLoaders, Dataset};
use fasterai::model::{read_tensor, write_tensor};
use fasterai::prelude::*;
use support::digits::images;
use support::deploy::{max_abs, max_abs_diff, randomize_batch_norms};
use fasterai::model::ChannelGroup;
use support::resnet::{DigitsResNet, ResNet18};

compress! {
    /// The stem's channel group (the stem and every block of layer1 write it) at 6 of 8, the first
    /// conv of layer2.0 at 12 of 16.
    pub GroupPruned = DigitsResNet { prune(conv1 = 6, layer2.0.conv1 = 12) }
}

compress! {
    /// ResNet-18 with its second stage's channel group (layer2.0.conv2, its downsample and
    /// layer2.1.conv2) at 100 of 128.
    pub Stage2Pruned = ResNet18 { prune(layer2.0.downsample = 100) }
}

compress! {
    /// Every BatchNorm folded, the shortcut's too.
    pub FoldedResNet = DigitsResNet { fold() }
}

compress! {
    /// A quarter of every group and block interior, then folded.
    pub SmallerResNet = DigitsResNet { prune(25%), fold() }
}

compress! {
    /// The story of the walkthrough on a residual network, a few steps each.
    pub DeployedResNet = DigitsResNet {
        sparsify(50%, granularity = filter, epochs = 1, lr = 1e-2),
        prune(50%, epochs = 1, lr = 1e-2),
        fold(),
        quantize(epochs = 1, lr = 1e-3),
    }
}

fn model(seed: u64) -> DigitsResNet {
    let mut model = Cpu::seed_from_u64(seed).build_module::<DigitsResNet, f32>();
    randomize_batch_norms(&mut model, seed);
    model
}

fn out_channels<M: Compressible>(name: &str) -> usize {
    match M::layer(name).unwrap_or_else(|| panic!("no layer {name}")).kind {
        LayerKindInfo::Conv2D { out_channels, .. } => out_channels,
        other => panic!("{name} is {other:?}"),
    }
}

fn in_channels<M: Compressible>(name: &str) -> usize {
    match M::layer(name).unwrap_or_else(|| panic!("no layer {name}")).kind {
        LayerKindInfo::Conv2D { in_channels, .. } => in_channels,
        other => panic!("{name} is {other:?}"),
    }
}

/// Zeroes channel `c` of every member of `group`: the filters of the layers that write it and γ, β
/// of its BatchNorms, so the channel is zero after every add.
fn zero_group_channel<M: Compressible + TensorCollection<f32, Cpu>>(model: &mut M, group: &ChannelGroup, c: usize) {
    for producer in group.producers {
        let name = format!("{producer}.weight");
        let mut weight = read_tensor(model, &name).unwrap().data;
        let per = weight.len() / group.channels;
        weight[c * per..(c + 1) * per].fill(0.0);
        write_tensor(model, &name, &weight).unwrap();
    }
    for bn in group.batch_norms {
        for field in ["weight", "bias"] {
            let name = format!("{bn}.{field}");
            let mut values = read_tensor(model, &name).unwrap().data;
            values[c] = 0.0;
            write_tensor(model, &name, &values).unwrap();
        }
    }
}

/// The channel group `member` writes.
fn group_of<M: Compressible>(member: &str) -> &'static ChannelGroup {
    M::CHANNEL_GROUPS.iter().find(|g| g.producers.contains(&member)).unwrap()
}

#[test]
fn one_width_prunes_the_whole_group_and_the_blocks_nest() {
    for name in ["conv1", "layer1.0.conv2", "layer1.1.conv2"] {
        assert_eq!(out_channels::<GroupPruned>(name), 6, "{name} writes the stem's channels");
    }
    for name in ["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.downsample"] {
        assert_eq!(in_channels::<GroupPruned>(name), 6, "{name} reads the stem's channels");
    }
    assert_eq!(out_channels::<GroupPruned>("layer2.0.conv1"), 12);
    assert_eq!(in_channels::<GroupPruned>("layer2.0.conv2"), 12);
    assert_eq!(out_channels::<GroupPruned>("layer2.0.downsample"), 16, "layer2's group keeps its width");
    // The blocks are types of their own, named after the instance.
    let model = Cpu::default().build_module::<GroupPruned, f32>();
    let _: &GroupPruned_layer2_0 = &model.layer2.0;
    assert!(GroupPruned::num_params() < DigitsResNet::num_params());
    let groups = GroupPruned::CHANNEL_GROUPS.iter().find(|g| g.producers.contains(&"conv1")).unwrap();
    assert_eq!(groups.producers, ["conv1", "layer1.0.conv2", "layer1.1.conv2"]);
}

#[test]
fn pruning_channels_zeroed_through_a_whole_group_changes_no_output() {
    let mut source = model(1);
    zero_group_channel(&mut source, group_of::<DigitsResNet>("conv1"), 2);
    zero_group_channel(&mut source, group_of::<DigitsResNet>("conv1"), 5);
    // The plan of the zero filters finds the channels zeroed in every member of the group at once.
    let zeros = PrunePlan::from_model(&source).unwrap();
    let members = ["conv1", "layer1.0.conv2", "layer1.1.conv2"];
    let mut layers: Vec<LayerPlan> = members.iter().map(|m| zeros.get(m).unwrap().clone()).collect();
    assert!(layers.iter().all(|l| l.kept == [0, 1, 3, 4, 6, 7]), "{layers:?}");
    // layer2.0.conv1: keep 12 of 16 by hand (its filters are not zero, so the output changes).
    layers.push(LayerPlan { name: "layer2.0.conv1".into(), width: 16, kept: (0..12).collect() });
    let plan = PrunePlan::new(layers).unwrap();
    let pruned = GroupPruned::from_source(&source, &plan).unwrap();
    // Only the stem group's part is exact; compare with layer2.0.conv1 pruned the same way in the source.
    let mut reference = source.clone();
    for field in ["weight"] {
        let name = format!("layer2.0.conv1.{field}");
        let mut weight = read_tensor(&reference, &name).unwrap().data;
        let per = weight.len() / 16;
        weight[12 * per..].fill(0.0);
        write_tensor(&mut reference, &name, &weight).unwrap();
    }
    for field in ["weight", "bias"] {
        let name = format!("layer2.0.bn1.{field}");
        let mut values = read_tensor(&reference, &name).unwrap().data;
        values[12..].fill(0.0);
        write_tensor(&mut reference, &name, &values).unwrap();
    }
    let dev = Cpu::default();
    let before = reference.forward(images(&dev, 6)).as_vec();
    let after = pruned.forward(images(&dev, 6)).as_vec();
    assert!(max_abs_diff(&before, &after) <= 1e-5 * max_abs(&before).max(1.0), "{before:?}\n{after:?}");
}

#[test]
fn a_plan_that_splits_a_group_is_refused_naming_both_layers() {
    let source = model(2);
    let keep = |name: &str, kept: Vec<usize>| LayerPlan { name: name.into(), width: 8, kept };
    let plan = PrunePlan::new(vec![
        keep("conv1", vec![0, 1, 2, 3, 4, 5]),
        keep("layer1.0.conv2", vec![0, 1, 2, 3, 4, 5]),
        keep("layer1.1.conv2", vec![2, 3, 4, 5, 6, 7]),
        LayerPlan { name: "layer2.0.conv1".into(), width: 16, kept: (0..12).collect() },
    ])
    .unwrap();
    let error = GroupPruned::from_source(&source, &plan).err().expect("a split group is refused").to_string();
    assert!(error.contains("`conv1` and `layer1.1.conv2` write the same channels"), "{error}");
    // A plan made for the model without the group's members is refused too.
    let partial = PrunePlan::new(vec![keep("conv1", vec![0, 1, 2, 3, 4, 5])]).unwrap();
    assert!(GroupPruned::from_source(&source, &partial).is_err());
}

#[test]
fn folding_every_batch_norm_of_a_resnet_keeps_its_outputs() {
    let source = model(3);
    let folded = FoldedResNet::from_source(&source).unwrap();
    assert!(FoldedResNet::LAYERS.iter().all(|l| !matches!(l.kind, LayerKindInfo::BatchNorm2D { .. })));
    assert!(matches!(FoldedResNet::layer("layer2.0.downsample").unwrap().kind, LayerKindInfo::Conv2D { bias: true, .. }));
    let dev = Cpu::default();
    let before = source.forward(images(&dev, 5)).as_vec();
    let after = folded.forward(images(&dev, 5)).as_vec();
    assert!(max_abs_diff(&before, &after) <= 1e-4 * max_abs(&before), "{before:?}\n{after:?}");
}

#[test]
fn prune_then_fold_chains_through_the_blocks() {
    let source = model(4);
    assert_eq!(out_channels::<SmallerResNet>("layer1.1.conv2"), 6);
    assert_eq!(out_channels::<SmallerResNet>("layer2.1.conv2"), 12);
    // Ranked by L1 norm, each group as the sum over its members: the widths `prune(25%)` declared.
    let quarter = Sparsity::from_percent(25.0).unwrap();
    let plan = PrunePlan::from_criterion(&source, quarter, Ranking::Local, Criteria::new(Criterion::LargeFinal)).unwrap();
    let stem = plan.kept("conv1").unwrap();
    assert_eq!(stem.len(), 6);
    assert!(["layer1.0.conv2", "layer1.1.conv2"].iter().all(|m| plan.kept(m) == Some(stem)), "{plan}");
    // `group_plans` (the compress! runner's ranking: summed L1 norms) keeps one list per group too.
    let group = coupled_groups::<DigitsResNet>().find(|g| g.producers.contains(&"conv1")).unwrap();
    let ranked = group_plans(&source, group, 6).unwrap();
    assert_eq!(ranked.len(), 3);
    assert!(ranked.iter().all(|l| l.kept == ranked[0].kept && l.kept.len() == 6), "{ranked:?}");
    let smaller = SmallerResNet::from_source(&source, &plan).unwrap();
    let out = smaller.forward(images(&Cpu::default(), 3)).as_vec();
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(SmallerResNet::num_params() < DigitsResNet::num_params());
}

#[test]
fn the_whole_schedule_runs_on_a_resnet() {
    let (train, valid) = digits(0.2, 0).unwrap();
    let first = |set: &Dataset, n: usize| set.select(&(0..n).collect::<Vec<_>>()).unwrap();
    let data = DataLoaders::new(first(&train, 256), first(&valid, 128), 32, 0);
    let source = Cpu::seed_from_u64(7).build_module::<DigitsResNet, f32>();
    let compressed = DeployedResNet::compress(source, data, Output::Quiet).unwrap();
    let stages: Vec<&str> = compressed.report.rows().iter().map(|r| r.stage.as_str()).collect();
    assert!(stages.iter().any(|s| s.starts_with("prune")) && stages.contains(&"int8"), "{stages:?}");
    assert!(compressed.int8.is_some());
    assert_eq!(out_channels::<DeployedResNet>("conv1"), 4);
    let sparse = compressed.sparsity.expect("the schedule sparsifies");
    assert!(!sparse.layers.is_empty());
}

#[test]
fn weights_of_the_unpruned_model_do_not_load_into_the_pruned_type() {
    use fasterai::nn::{load_weights, save_weights, NnError};
    let source = model(5);
    let path = std::env::temp_dir().join(format!("fasterai-resnet-unpruned-{}.safetensors", std::process::id()));
    save_weights(&source, &path).unwrap();
    let mut pruned = Cpu::default().build_module::<GroupPruned, f32>();
    let before = read_tensor(&pruned, "layer1.0.conv1.weight").unwrap().data;
    let error = load_weights(&mut pruned, &path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(&error, NnError::ShapeMismatch { name, expected, found } if name == "conv1.weight" && expected[0] == 6 && found[0] == 8), "{error}");
    assert_eq!(read_tensor(&pruned, "layer1.0.conv1.weight").unwrap().data, before, "nothing was loaded");
}

#[test]
fn resnet18_pruned_through_a_zeroed_stage_group_gives_the_same_logits() {
    let dev = Cpu::seed_from_u64(6);
    let mut source = dev.build_module::<ResNet18, f32>();
    randomize_batch_norms(&mut source, 6);
    let group = group_of::<ResNet18>("layer2.0.downsample");
    assert_eq!(group.producers, ["layer2.0.conv2", "layer2.0.downsample", "layer2.1.conv2"]);
    for c in (0..128).filter(|c| c % 4 == 1).take(28) {
        zero_group_channel(&mut source, group, c);
    }
    let plan = PrunePlan::from_model(&source).unwrap();
    assert_eq!(plan.kept("layer2.1.conv2").unwrap().len(), 100, "{plan}");
    let pruned = Stage2Pruned::from_source(&source, &plan).unwrap();
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> = dev.sample_normal_like(&(1, Const, Const, Const));
    let before = source.forward(x.clone()).as_vec();
    let after = pruned.forward(x).as_vec();
    assert!(max_abs_diff(&before, &after) <= 1e-4 * max_abs(&before), "{before:?}\n{after:?}");
}

#[test]
fn filter_sparsification_zeroes_a_group_in_every_member_so_pruning_it_is_exact() {
    let mut source = model(8);
    let quarter = Sparsity::from_percent(25.0).unwrap();
    let filters = Granularity::Conv(ConvGranularity::Filter);
    for context in [Ranking::Local, Ranking::Global(fasterai::compress::sparsify::GlobalOptions::balanced())] {
        let mut sparsifier = Sparsifier::new(quarter, filters, context, Criteria::new(Criterion::LargeFinal));
        let mut copy = source.clone();
        sparsifier.prune_model(&mut copy).unwrap();
        let plan = PrunePlan::from_model(&copy).unwrap();
        let stem = plan.kept("conv1").unwrap();
        assert!(["layer1.0.conv2", "layer1.1.conv2"].iter().all(|m| plan.kept(m) == Some(stem)), "{plan}");
    }
    Sparsifier::new(quarter, filters, Ranking::Local, Criteria::new(Criterion::LargeFinal)).prune_model(&mut source).unwrap();
    let plan = PrunePlan::from_model(&source).unwrap();
    assert_eq!(plan.kept("layer2.0.downsample").unwrap().len(), 12, "{plan}");
    let smaller = SmallerResNet::from_source(&source, &plan).unwrap();
    let dev = Cpu::default();
    let before = source.forward(images(&dev, 4)).as_vec();
    let after = smaller.forward(images(&dev, 4)).as_vec();
    assert!(max_abs_diff(&before, &after) <= 1e-4 * max_abs(&before), "{before:?}\n{after:?}");
}
