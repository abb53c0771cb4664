//! `#[derive(Compressible)]` on DESIGN.md's SmallVgg: the derived forward equals the same layers
//! called by hand with the same weights, training mode reaches every layer, and the weights
//! round-trip through safetensors under the field names.

#[macro_use]
mod support;

use fasterai::dfdx::nn::{NumParams, ZeroGrads};
use fasterai::dfdx::prelude::{Backward, Const, DeviceBuildExt, Gradients, ModuleMut, OwnedTape, RealizeTo, SumTo, Trace};
use fasterai::dfdx::tensor::{AsArray, SampleTensor, TensorFromVec};
use fasterai::prelude::*;
use support::models::SmallVgg;

type Images = Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>;

fn images(dev: &Cpu, batch: usize) -> Images {
    let values: Vec<f32> = (0..batch * 784).map(|i| ((i * 7919 % 256) as f32) / 255.0).collect();
    dev.tensor_from_vec(values, (batch, Const, Const, Const))
}

/// A model with non-trivial BatchNorm statistics, so inference is not the identity through them.
fn model(dev: &Cpu) -> SmallVgg {
    let mut model = dev.build_module::<SmallVgg, f32>();
    model.bn1.running_mean = dev.sample_normal() * 0.1;
    model.bn2.running_var = dev.sample_uniform() + 0.5;
    model.bn3.weight = dev.sample_normal();
    model.bn4.bias = dev.sample_normal();
    model
}

/// SmallVgg's layers of `$m` called one by one on `$x`, each batch norm through `$bn` (`forward`
/// for inference, `forward_mut` for training): the logits.
macro_rules! small_vgg_by_hand {
    ($m:expr, $x:expr, $bn:ident) => {{
        let m = $m;
        let x = $x.realize::<(usize, Const<1>, usize, usize)>();
        let x = m.relu1.forward(m.bn1.$bn(m.conv1.try_forward(x).unwrap()));
        let x = m.relu2.forward(m.bn2.$bn(m.conv2.try_forward(x).unwrap()));
        let x = m.pool1.try_forward(x).unwrap();
        let x = m.relu3.forward(m.bn3.$bn(m.conv3.try_forward(x).unwrap()));
        let x = m.relu4.forward(m.bn4.$bn(m.conv4.try_forward(x).unwrap()));
        let x = m.pool2.try_forward(x).unwrap();
        let x = m.flatten.try_forward(x).unwrap().realize::<(usize, Const<3136>)>();
        m.fc2.forward(m.relu5.forward(m.fc1.forward(x)))
    }};
}

/// The same computation written out layer by layer.
fn by_hand(m: &SmallVgg, x: Images) -> Vec<f32> {
    small_vgg_by_hand!(m, x, forward).as_vec()
}

#[test]
fn description_matches_design() {
    assert_eq!(SmallVgg::num_params(), 871_018);
    assert_eq!(SmallVgg::num_macs(), 19_094_528, "DESIGN.md: 19.1 M MACs");
    assert_eq!(SmallVgg::layer("flatten").unwrap().output, ShapeInfo::Flat { n: 3136 });
    let producers: Vec<(&str, Option<&str>, &str, usize)> =
        SmallVgg::COUPLINGS.iter().map(|c| (c.producer, c.batch_norm, c.consumer, c.group)).collect();
    assert_eq!(
        producers,
        [
            ("conv1", Some("bn1"), "conv2", 1),
            ("conv2", Some("bn2"), "conv3", 1),
            ("conv3", Some("bn3"), "conv4", 1),
            ("conv4", Some("bn4"), "fc1", 49),
            ("fc1", None, "fc2", 1),
        ]
    );
    let dev = Cpu::default();
    assert_eq!(model(&dev).num_trainable_params(), 871_018);
}

#[test]
fn derived_forward_equals_the_layers_called_by_hand() {
    let dev = Cpu::default();
    let model = model(&dev);
    let x = images(&dev, 3);
    let derived: Tensor<(usize, Const<10>), f32, Cpu> = model.forward(x.clone());
    assert_eq!(derived.as_vec(), by_hand(&model, x.clone()));
    let (with_taps, taps) = model.forward_with_taps(x).unwrap();
    assert_eq!(with_taps.as_vec(), derived.as_vec());
    let _: &Tensor<(usize, Const<256>), f32, Cpu> = &taps.fc1;
}

#[test]
fn training_forward_updates_statistics_and_reaches_the_first_conv() {
    let dev = Cpu::default();
    let mut model = model(&dev);
    let before = model.bn1.running_mean.array();
    let x = images(&dev, 2);
    let y = model.forward_mut(x.traced(model.alloc_grads()));
    let grads = y.sum::<(), _>().backward();
    assert_ne!(model.bn1.running_mean.array(), before, "BatchNorm updates its running mean while training");
    let fc1 = grads.get(&model.fc1.weight).as_vec();
    let conv1 = grads.get(&model.conv1.weight).as_vec();
    assert!(fc1.iter().any(|g| *g != 0.0), "the gradient of fc1.weight is all zeros");
    assert!(conv1.iter().any(|g| *g != 0.0), "the gradient of conv1.weight is all zeros");
}

/// The training forward written out layer by layer: each batch norm, then its ReLU.
fn by_hand_training(m: &mut SmallVgg, x: Images, grads: Gradients<f32, Cpu>, dev: &Cpu) -> Tensor<(), f32, Cpu, OwnedTape<f32, Cpu>> {
    let y = small_vgg_by_hand!(m, x.traced(grads), forward_mut);
    (y * weights(dev)).sum()
}

/// Fixed output weights, so the loss's gradient differs per logit.
fn weights(dev: &Cpu) -> Tensor<(usize, Const<10>), f32, Cpu> {
    dev.tensor_from_vec((0..40).map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0).collect(), (4, Const))
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y} (largest {scale})");
    }
}

#[test]
fn training_forward_fuses_batch_norm_and_relu_with_the_same_result() {
    // The derive runs each `BatchNorm2D` + `ReLU` pair as one fused op while training: same values,
    // gradients and running statistics as the two layers one after the other, up to float rounding.
    let dev = Cpu::default();
    let mut derived = model(&dev);
    let mut layers = derived.clone();
    let x = images(&dev, 4);
    let y = derived.forward_mut(x.clone().traced(derived.alloc_grads()));
    let fused = (y * weights(&dev)).sum();
    let grads = layers.alloc_grads();
    let by_hand = by_hand_training(&mut layers, x, grads, &dev);
    assert_close(&[fused.array()], &[by_hand.array()], "loss");
    let (g_fused, g_hand) = (fused.backward(), by_hand.backward());
    assert_close(&g_fused.get(&derived.conv1.weight).as_vec(), &g_hand.get(&layers.conv1.weight).as_vec(), "conv1.weight grad");
    assert_close(&g_fused.get(&derived.bn2.weight).as_vec(), &g_hand.get(&layers.bn2.weight).as_vec(), "bn2.weight grad");
    assert_close(&g_fused.get(&derived.bn4.bias).as_vec(), &g_hand.get(&layers.bn4.bias).as_vec(), "bn4.bias grad");
    assert_close(&derived.bn3.running_mean.as_vec(), &layers.bn3.running_mean.as_vec(), "bn3 running mean");
    assert_close(&derived.bn1.running_var.as_vec(), &layers.bn1.running_var.as_vec(), "bn1 running var");
}

#[test]
fn safetensors_round_trip_under_field_names() {
    let dev = Cpu::default();
    let model = model(&dev);
    let fields = ["conv1.weight", "conv1.bias", "bn1.running_var", "conv4.weight", "fc1.weight", "fc2.bias"];
    let (path, _) = support::safetensors::save_temp_holding(&model, "derive-small-vgg", &fields);
    let loaded = support::safetensors::load_and_remove(dev.build_module::<SmallVgg, f32>(), &path);
    let x = images(&dev, 2);
    assert_eq!(loaded.forward(x.clone()).as_vec(), model.forward(x).as_vec());
}
