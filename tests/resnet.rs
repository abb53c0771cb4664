//! Residual networks written as Rust types: shapes and parameter counts through the blocks, the
//! derived forward against the same computation written by hand, gradients through both paths of a
//! block (central finite differences), taps inside blocks, and a few training steps on the digits.

#[macro_use]
mod support;

use fasterai::data::DataLoaders;
use fasterai::dfdx::prelude::{Backward, Trace};
use fasterai::internals::kernels::int8::Int8Kernels;
use fasterai::internals::kernels::Isa;
use fasterai::model::{read_tensor, write_tensor};
use fasterai::prelude::*;
use support::digits::{images, Images as Digits};
use support::deploy::{max_abs, max_abs_diff, random_images, with_random_batch_norms};
use support::int8_reference::integer_reference;
use support::resnet::{Basic8, DigitsResNet, ResNet18};

fn layer<'a, M: Compressible>(name: &str) -> &'a LayerInfo {
    M::LAYERS.iter().find(|layer| layer.name == name).unwrap_or_else(|| panic!("no layer {name}"))
}

#[test]
fn resnet18_has_torchvisions_parameter_count_and_shapes() {
    let params: usize = ResNet18::LAYERS.iter().map(|layer| layer.params).sum();
    assert_eq!(params, 11_181_642, "torchvision's ResNet-18 with 10 classes");
    let dev = Cpu::default();
    let model = dev.build_module::<ResNet18, f32>();
    assert_eq!(model.num_trainable_params(), 11_181_642, "dfdx counts the same tensors");
    assert_eq!(layer::<ResNet18>("maxpool").output, ShapeInfo::Chw { c: 64, h: 56, w: 56 });
    assert_eq!(layer::<ResNet18>("layer2.0.conv1").output, ShapeInfo::Chw { c: 128, h: 28, w: 28 });
    assert_eq!(layer::<ResNet18>("layer2.0.downsample").output, ShapeInfo::Chw { c: 128, h: 28, w: 28 });
    assert_eq!(layer::<ResNet18>("layer4.1:add").output, ShapeInfo::Chw { c: 512, h: 7, w: 7 });
    assert_eq!(layer::<ResNet18>("layer4.1:add").kind, LayerKindInfo::Add { relu: true });
    assert_eq!(layer::<ResNet18>("layer3.0:shortcut").input, ShapeInfo::Chw { c: 256, h: 14, w: 14 }, "the main path's end");
    assert_eq!(layer::<ResNet18>("layer3.0:shortcut").output, ShapeInfo::Chw { c: 128, h: 28, w: 28 }, "the block's input");
    let macs: usize = ResNet18::LAYERS.iter().map(|layer| layer.macs).sum();
    assert_eq!(macs, 1_813_566_464, "torchvision's model card: 1.81 GFLOPS (multiply-adds) at 224×224");
    let names = fasterai::model::tensor_names(&model);
    assert!(names.iter().any(|name| name == "layer2.0.downsample.weight"), "{names:?}");
    assert!(names.iter().any(|name| name == "layer1.1.bn2.running_var"), "{names:?}");
}

#[test]
fn resnet18_runs_one_image() {
    let dev = Cpu::seed_from_u64(0);
    let model = dev.build_module::<ResNet18, f32>();
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> = dev.sample_normal_like(&(1, Const, Const, Const));
    let y = model.forward(x);
    assert_eq!(y.shape().0, 1);
    assert!(y.as_vec().iter().all(|v| v.is_finite()));
}

/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + x)` with the block's own layers, in inference.
fn basic_block_by_hand(block: &Basic8, x: Tensor<(usize, Const<8>, usize, usize), f32, Cpu>) -> Tensor<(usize, Const<8>, usize, usize), f32, Cpu> {
    let y = block.conv1.forward(x.clone());
    let y = block.bn1.forward(y);
    let y = block.relu.forward(y);
    let y = block.conv2.forward(y);
    let y = block.bn2.forward(y);
    (y + x).relu()
}

#[test]
fn the_derived_forward_is_the_blocks_written_by_hand() {
    let dev = Cpu::seed_from_u64(1);
    let mut model = dev.build_module::<DigitsResNet, f32>();
    // Statistics away from (0, 1), so an ignored BatchNorm would show.
    for name in ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.1.bn2", "layer2.0.downsample_bn"] {
        let mut mean = read_tensor(&model, &format!("{name}.running_mean")).unwrap();
        mean.data.iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 * (i as f32 % 3.0) - 0.1);
        write_tensor(&mut model, &format!("{name}.running_mean"), &mean.data).unwrap();
    }
    let x = images(&dev, 3);
    let derived = model.forward(x.clone());

    let stem = model.relu.forward(model.bn1.forward(model.conv1.forward(x.try_realize::<(usize, Const<1>, usize, usize)>().unwrap())));
    let stage1 = basic_block_by_hand(&model.layer1.1, basic_block_by_hand(&model.layer1.0, stem));
    let down = &model.layer2.0;
    let main = down.bn2.forward(down.conv2.forward(down.relu.forward(down.bn1.forward(down.conv1.forward(stage1.clone())))));
    let shortcut = down.downsample_bn.forward(down.downsample.forward(stage1));
    let stage2 = (main + shortcut).relu();
    let last = &model.layer2.1;
    let main = last.bn2.forward(last.conv2.forward(last.relu.forward(last.bn1.forward(last.conv1.forward(stage2.clone())))));
    let stage2 = (main + stage2).relu();
    let pooled: Tensor<(usize, Const<16>), f32, Cpu> = stage2.mean::<_, fasterai::dfdx::shapes::Axes2<2, 3>>();
    let by_hand = model.fc.forward(pooled);

    let (a, b) = (derived.as_vec(), by_hand.as_vec());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "logit {i}: derived {a} vs by hand {b}");
    }
}

/// Half the sum of squared logits of the training forward (batch statistics: deterministic for a
/// fixed batch), in f64.
fn train_loss(model: &DigitsResNet, x: &Digits) -> f64 {
    let mut probe = model.clone();
    let grads = probe.alloc_grads();
    probe.forward_mut(x.clone().traced(grads)).as_vec().iter().map(|v| 0.5 * (*v as f64).powi(2)).sum()
}

#[test]
fn gradients_reach_both_paths_of_a_block() {
    let dev = Cpu::seed_from_u64(2);
    let mut model = dev.build_module::<DigitsResNet, f32>();
    let x = images(&dev, 4);
    let grads = {
        let mut probe = model.clone();
        let y = probe.forward_mut(x.clone().traced(probe.alloc_grads()));
        (y.square() * 0.5).sum().backward()
    };
    let analytic = [
        ("conv1.weight", grads.get(&model.conv1.weight).as_vec()),
        ("layer1.0.conv1.weight", grads.get(&model.layer1.0.conv1.weight).as_vec()),
        ("layer2.0.downsample.weight", grads.get(&model.layer2.0.downsample.weight).as_vec()),
        ("layer2.1.conv2.weight", grads.get(&model.layer2.1.conv2.weight).as_vec()),
        ("fc.weight", grads.get(&model.fc.weight).as_vec()),
    ];
    for (name, gradient) in analytic {
        let mut tensor = read_tensor(&model, name).unwrap();
        let index = gradient.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
        let original = tensor.data[index];
        let eps = 3e-3f32;
        let mut at = |value: f32| {
            tensor.data[index] = value;
            write_tensor(&mut model, name, &tensor.data).unwrap();
            train_loss(&model, &x)
        };
        let (up, down) = (at(original + eps), at(original - eps));
        at(original);
        let numeric = (up - down) / (2.0 * eps as f64);
        let a = gradient[index] as f64;
        assert!(a != 0.0, "{name}: no gradient reached it");
        // An f32 loss through training-mode BatchNorms and ReLUs: central differences of the plain
        // `SmallDigitsNet` jitter by up to 8% as well, so 12% tells a missing path (off by a whole
        // term) from rounding.
        assert!((a - numeric).abs() <= 0.12 * a.abs().max(numeric.abs()) + 1e-3, "{name}[{index}]: analytic {a} vs numeric {numeric}");
    }
}

#[test]
fn a_tap_inside_a_block_is_named_by_its_path() {
    let taps: Vec<(&str, ShapeInfo)> = DigitsResNet::TAPS.iter().map(|tap| (tap.name, tap.shape)).collect();
    assert_eq!(taps, [("layer2.1.conv2", ShapeInfo::Chw { c: 16, h: 4, w: 4 })]);
    let dev = Cpu::seed_from_u64(3);
    let model = dev.build_module::<DigitsResNet, f32>();
    let (y, taps) = model.forward_with_taps(images(&dev, 2)).unwrap();
    assert_eq!(taps.layer2_1_conv2.shape().0, 2);
    assert_eq!(y.as_vec(), model.forward(images(&dev, 2)).as_vec());
}

#[test]
fn a_small_resnet_learns_the_digits() {
    let (train, valid) = digits(0.2, 0).unwrap();
    let data = DataLoaders::new(train, valid, 32, 0);
    let model = Cpu::seed_from_u64(4).build_module::<DigitsResNet, f32>();
    let mut learn: Learner<_, (usize, Const<1>, Const<8>, Const<8>), 10> = Learner::new(model, data).with_output(Output::Quiet);
    learn.fit_one_cycle(2, 1e-2).unwrap();
    let accuracy = learn.validate().unwrap().accuracy.get();
    assert!(accuracy > 0.8, "two epochs take a ResNet past 80% on the digits: {accuracy}");
}

/// The largest difference between two sets of logits, over the largest logit.
fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
    max_abs_diff(a, b) / max_abs(b).max(1e-6)
}

#[test]
fn the_fp32_plan_equals_the_derived_forward() {
    let dev = Cpu::seed_from_u64(5);
    let model = with_random_batch_norms::<DigitsResNet>(&dev, 5);
    let mut plan = fasterai::deploy::accelerate(&model).unwrap();
    let x = images(&dev, 4);
    let derived = model.forward(x.clone()).as_vec();
    let planned = plan.predict(&x.as_vec(), 4).unwrap();
    assert!(relative_gap(&planned, &derived) <= 1e-4, "plan {planned:?}\nmodel {derived:?}");
    plan.set_fused_adds(false);
    let unfused = plan.predict(&x.as_vec(), 4).unwrap();
    assert!(relative_gap(&planned, &unfused) <= 1e-5, "the adds fused into the convs: {planned:?}\nseparate: {unfused:?}");
    let params: usize = DigitsResNet::LAYERS.iter().map(|l| l.params).sum();
    let bn_channels: usize = DigitsResNet::LAYERS
        .iter()
        .map(|l| match l.kind {
            LayerKindInfo::BatchNorm2D { channels } => channels,
            _ => 0,
        })
        .sum();
    assert_eq!(plan.parameters(), params - bn_channels, "every BatchNorm (γ, β) folds into one bias per channel of its conv");
}

#[test]
fn the_fp32_plan_runs_resnet18_as_its_forward_does() {
    let dev = Cpu::seed_from_u64(6);
    let model = with_random_batch_norms::<ResNet18>(&dev, 6);
    let mut plan = fasterai::deploy::accelerate(&model).unwrap();
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> = dev.sample_normal_like(&(1, Const, Const, Const));
    let derived = model.forward(x.clone()).as_vec();
    let planned = plan.run(&x.as_vec()).unwrap().to_vec();
    assert!(relative_gap(&planned, &derived) <= 1e-4, "plan {planned:?}\nmodel {derived:?}");
    // Direct, Winograd and GEMM convs end its blocks, with and without bands.
    for bands in [true, false] {
        plan.set_bands(bands);
        plan.set_fused_adds(false);
        let unfused = plan.run(&x.as_vec()).unwrap().to_vec();
        plan.set_fused_adds(true);
        let fused = plan.run(&x.as_vec()).unwrap().to_vec();
        assert!(relative_gap(&fused, &unfused) <= 1e-5, "bands {bands}: fused {fused:?}\nseparate {unfused:?}");
    }
}

#[test]
fn the_int8_plan_equals_its_integer_reference_through_the_skips() {
    let dev = Cpu::seed_from_u64(7);
    let model = with_random_batch_norms::<DigitsResNet>(&dev, 7);
    let calibration = images(&dev, 16).as_vec();
    let mut int8 = fasterai::deploy::quantize_static(&model, &calibration, 16, Default::default()).unwrap();
    let adds = int8.layers().iter().filter(|l| matches!(l.node.op, fasterai::deploy::graph::Op::Add { .. })).count();
    assert_eq!(adds, 4, "one integer add per block");
    let mut fp32 = fasterai::deploy::accelerate(&model).unwrap();
    // Every table: the AVX2 ones run their wide 3×3 convs by the integer Winograd kernel, all but
    // AMX the stride-2 conv over its input's phases on the tap rows only.
    let mut tables: Vec<_> = Int8Kernels::available().into_iter().map(|k| int8.with_kernels(k).unwrap()).collect();
    for image in calibration.chunks(64).take(4) {
        let ours = int8.run(image).unwrap().to_vec();
        let want = integer_reference(&int8, image);
        assert_eq!(ours, want, "the plan's integers are the reference's");
        for plan in &mut tables {
            let name = plan.kernels_name();
            assert_eq!(plan.run(image).unwrap(), want.as_slice(), "{name}");
        }
        let float = fp32.run(image).unwrap().to_vec();
        assert!(relative_gap(&ours, &float) < 0.1, "int8 {ours:?}\nfp32 {float:?}");
    }
    let path = std::env::temp_dir().join(format!("resnet-int8-{}.safetensors", std::process::id()));
    int8.save(&path).unwrap();
    let mut loaded = fasterai::deploy::Int8Model::<DigitsResNet>::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.run(&calibration[..64]).unwrap(), int8.run(&calibration[..64]).unwrap(), "the file keeps every add's grid");
}

#[test]
fn resnet18_int8_plan_equals_its_integer_reference() {
    let dev = Cpu::seed_from_u64(8);
    let model = with_random_batch_norms::<ResNet18>(&dev, 8);
    let len = 3 * 224 * 224;
    let calibration = random_images(2, len, 9, false);
    let mut int8 = fasterai::deploy::quantize_static(&model, &calibration, 2, Default::default()).unwrap();
    let image = &calibration[..len];
    let want = integer_reference(&int8, image);
    assert_eq!(int8.run(image).unwrap().to_vec(), want);
    // Every SIMD table of this CPU (the portable ones would take seconds at 224×224).
    for kernels in Int8Kernels::available().into_iter().filter(|k| k.isa != Isa::Portable) {
        assert_eq!(int8.with_kernels(kernels).unwrap().run(image).unwrap(), want.as_slice(), "{}", kernels.name);
    }
}

#[test]
fn resnet18s_channel_groups_are_depgraphs() {
    let groups = ResNet18::CHANNEL_GROUPS;
    let coupled: Vec<&ChannelGroup> = groups.iter().filter(|g| g.producers.len() > 1).collect();
    assert_eq!(coupled.len(), 4, "one group per stage, across its skips");
    let stem = coupled[0];
    assert_eq!(stem.producers, ["conv1", "layer1.0.conv2", "layer1.1.conv2"]);
    assert_eq!(stem.batch_norms, ["bn1", "layer1.0.bn2", "layer1.1.bn2"]);
    let readers: Vec<&str> = stem.consumers.iter().map(|(name, _)| *name).collect();
    assert_eq!(readers, ["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.downsample"]);
    assert_eq!((stem.channels, stem.prunable), (64, true));
    assert_eq!(coupled[1].producers, ["layer2.0.conv2", "layer2.0.downsample", "layer2.1.conv2"]);
    assert_eq!(coupled[3].consumers, [("layer4.1.conv1", 1), ("fc", 1)], "the last stage also feeds the classifier, one input per channel");
    let interiors: Vec<&ChannelGroup> = groups.iter().filter(|g| g.producers.len() == 1 && g.prunable).collect();
    assert_eq!(interiors.len(), 8, "each block's first conv is free");
    assert!(interiors.iter().all(|g| g.producers[0].ends_with(".conv1") && g.consumers.len() == 1));
    let classifier = groups.last().unwrap();
    assert_eq!((classifier.producers, classifier.prunable), (&["fc"][..], false));
    assert_eq!(groups.len(), 4 + 8 + 1);
    let free: Vec<&str> = ResNet18::COUPLINGS.iter().map(|c| c.producer).collect();
    assert_eq!(free.len(), 8, "only block interiors prune one layer at a time: {free:?}");
}
