//! `#[derive(Compressible)]` on a plain MLP (dfdx layers only): the description, the forward
//! against the same layers composed by hand, training mode, taps, and a safetensors round trip.

mod support;

use fasterai::dfdx::nn::modules::Tanh;
use fasterai::dfdx::nn::{NumParams, ZeroGrads};
use fasterai::dfdx::prelude::{Backward, Const, DeviceBuildExt, Gradients, HasShape, SumTo, Trace, ZerosTensor};
use fasterai::dfdx::tensor::{AsArray, SampleTensor, TensorFromVec};
use fasterai::prelude::*;

#[derive(Compressible, Clone, Debug)]
#[compressible(input = [12])]
struct Mlp {
    fc1: Linear<12, 8>,
    bn1: BatchNorm1D<8>,
    relu1: ReLU,
    drop1: Dropout,
    fc2: Linear<8, 6>,
    #[tap]
    act2: Tanh,
    fc3: UnbiasedLinear<6, 3>,
}

type Input<T = NoneTape> = Tensor<(usize, Const<12>), f32, Cpu, T>;

/// A built model whose BatchNorm has non-trivial statistics, so inference differs from training.
fn model(dev: &Cpu) -> Mlp {
    let mut model = dev.build_module::<Mlp, f32>();
    model.bn1.running_mean = dev.sample_normal();
    model.bn1.running_var = dev.sample_uniform::<fasterai::dfdx::shapes::Rank1<8>>() + 0.5;
    model.bn1.scale = dev.sample_normal();
    model.bn1.bias = dev.sample_normal();
    model
}

fn batch(dev: &Cpu, rows: usize) -> Input {
    let values: Vec<f32> = (0..rows * 12).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
    dev.tensor_from_vec(values, (rows, Const::<12>))
}

#[test]
fn description_lists_layers_params_and_couplings() {
    assert_eq!(Mlp::INPUT, ShapeInfo::Flat { n: 12 });
    let names: Vec<&str> = Mlp::LAYERS.iter().map(|layer| layer.name).collect();
    assert_eq!(names, ["fc1", "bn1", "relu1", "drop1", "fc2", "act2", "fc3"]);
    assert_eq!(Mlp::output(), ShapeInfo::Flat { n: 3 });
    assert_eq!(Mlp::num_params(), (12 * 8 + 8) + 2 * 8 + (8 * 6 + 6) + 6 * 3);
    assert_eq!(Mlp::num_macs(), 12 * 8 + 8 * 6 + 6 * 3);
    assert_eq!(Mlp::layer("act2").map(|layer| layer.tapped), Some(true));
    assert_eq!(Mlp::layer("act2").map(|layer| layer.kind), Some(LayerKindInfo::Activation { name: "Tanh" }));
    assert_eq!(
        Mlp::COUPLINGS,
        [
            Coupling { producer: "fc1", batch_norm: Some("bn1"), consumer: "fc2", group: 1 },
            Coupling { producer: "fc2", batch_norm: None, consumer: "fc3", group: 1 },
        ]
    );
    let dev = Cpu::default();
    assert_eq!(model(&dev).num_trainable_params(), Mlp::num_params());
}

#[test]
fn inference_forward_equals_the_layers_composed_by_hand() {
    let dev = Cpu::default();
    let model = model(&dev);
    let by_hand = (model.fc1.clone(), model.bn1.clone(), ReLU, model.fc2.clone(), Tanh, model.fc3.clone());
    let x = batch(&dev, 5);
    let derived: Tensor<(usize, Const<3>), f32, Cpu> = model.forward(x.clone());
    let expected = by_hand.forward(x);
    assert_eq!(derived.as_vec(), expected.as_vec());
    assert_eq!(derived.shape().0, 5);
}

#[test]
fn taps_return_the_tapped_activation() {
    let dev = Cpu::default();
    let model = model(&dev);
    let x = batch(&dev, 4);
    let (output, taps): (_, MlpTaps<NoneTape>) = model.forward_with_taps(x.clone()).unwrap();
    assert_eq!(output.as_vec(), model.forward(x.clone()).as_vec());
    let up_to_act2 = (model.fc1.clone(), model.bn1.clone(), ReLU, model.fc2.clone(), Tanh);
    let expected: Tensor<(usize, Const<6>), f32, Cpu> = up_to_act2.forward(x);
    assert_eq!(taps.act2.as_vec(), expected.as_vec());
}

#[derive(Compressible, Clone, Debug)]
#[compressible(input = [12])]
struct MlpNoDropout {
    fc1: Linear<12, 8>,
    bn1: BatchNorm1D<8>,
    relu1: ReLU,
    fc2: Linear<8, 3>,
}

#[test]
fn training_forward_updates_batch_norm_and_matches_by_hand() {
    let dev = Cpu::default();
    let mut model = dev.build_module::<MlpNoDropout, f32>();
    let mut by_hand = (model.fc1.clone(), model.bn1.clone(), ReLU, model.fc2.clone());
    let x = batch(&dev, 6);
    let derived = model.forward_mut(x.clone().traced(model.alloc_grads()));
    let expected = by_hand.forward_mut(x.traced(by_hand.alloc_grads()));
    assert_eq!(derived.as_vec(), expected.as_vec());
    assert_eq!(model.bn1.running_mean.array(), by_hand.1.running_mean.array());
    assert_ne!(model.bn1.running_mean.array(), [0.0; 8], "training mode updates the running mean");
    let grads: Gradients<f32, Cpu> = derived.sum::<(), _>().backward();
    let fc1_grad = grads.get(&model.fc1.weight).as_vec();
    assert!(fc1_grad.iter().any(|g| *g != 0.0), "gradients reach the first layer");
}

#[test]
fn training_taps_carry_gradients_to_the_model() {
    let dev = Cpu::default();
    let mut model = model(&dev);
    let x = batch(&dev, 4);
    let (output, taps) = model.forward_mut_with_taps(x.traced(model.alloc_grads())).unwrap();
    // A feature loss on the tap alone, added to a zero-weighted output loss that holds the tape.
    let loss = taps.act2.sum::<(), _>() + output.sum::<(), _>() * 0.0;
    let grads = loss.backward();
    assert!(grads.get(&model.fc2.weight).as_vec().iter().any(|g| *g != 0.0));
    assert!(grads.get(&model.fc3.weight).as_vec().iter().all(|g| *g == 0.0), "fc3 is after the tap");
}

#[test]
fn safetensors_round_trip_uses_field_names() {
    let dev = Cpu::default();
    let model = model(&dev);
    let fields = ["fc1.weight", "fc1.bias", "bn1.scale", "bn1.bias", "bn1.running_mean", "bn1.running_var", "fc2.weight", "fc3.weight"];
    let (path, keys) = support::safetensors::save_temp_holding(&model, "derive-mlp", &fields);
    assert!(!keys.iter().any(|k| k == "fc3.bias"), "UnbiasedLinear has no bias: {keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("relu1") || k.starts_with("act2")));

    let loaded = support::safetensors::load_and_remove(dev.build_module::<Mlp, f32>(), &path);
    let x = batch(&dev, 3);
    assert_eq!(loaded.forward(x.clone()).as_vec(), model.forward(x).as_vec());
    let zeros: Input = dev.zeros_like(&(2, Const::<12>));
    assert_eq!(loaded.forward(zeros.clone()).as_vec(), model.forward(zeros).as_vec());
}
