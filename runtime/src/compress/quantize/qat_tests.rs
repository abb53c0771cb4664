//! The shadow-weight steps of QAT on a small MLP described by hand, and one SGD step through the
//! learner checked against the gradient taken at the quantized weights.

use super::*;
use crate::data::{DataLoaders, Dataset};
use crate::learn::{cross_entropy, Learner, LrSchedule, OptimizerConfig, Output};
use crate::model::{read_tensor, write_tensor, Coupling, ShapeInfo};
use crate::nn::Linear;
use dfdx::nn::modules::ReLU;
use dfdx::prelude::*;
use dfdx::tensor_ops::SgdConfig;

type Net = (Linear<4, 3>, ReLU, Linear<3, 2>);


/// What `#[derive(Compressible)]` would write for the tuple's fields `0`, `1`, `2`.
impl Compressible for Net {
    const INPUT: ShapeInfo = ShapeInfo::Flat { n: 4 };
    const LAYERS: &'static [LayerInfo] = &[
        LayerInfo::flat("0", LayerKindInfo::Linear { in_features: 4, out_features: 3, bias: true }, 4, 3, 15),
        LayerInfo::flat("1", LayerKindInfo::Activation { name: "ReLU" }, 3, 3, 0),
        LayerInfo::flat("2", LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true }, 3, 2, 8),
    ];
    const COUPLINGS: &'static [Coupling] = &[];
}

fn net() -> Net {
    Net::build(&Cpu::seed_from_u64(5))
}

fn values(model: &Net, name: &str) -> Vec<f32> {
    read_tensor(model, name).unwrap().data
}

/// Asserts every row of `quantized` is `scale · q` with `q` an integer in `[−127, 127]` and
/// `scale = absmax / 127` of the same row of `float`.
fn assert_on_grid(float: &[f32], quantized: &[f32], rows: usize) {
    let fan_in = float.len() / rows;
    for (r, (f, q)) in float.chunks(fan_in).zip(quantized.chunks(fan_in)).enumerate() {
        let scale = f.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        for (i, &v) in q.iter().enumerate() {
            let steps = (v / scale).round();
            assert!(steps.abs() <= 127.0, "row {r} value {i}: {v} is {steps} steps");
            assert_eq!(steps * scale, v, "row {r} value {i}: {v} is not a whole number of steps {scale}");
            assert!((v - f[i]).abs() <= scale / 2.0 * 1.0001, "row {r} value {i}: {v} is far from {}", f[i]);
        }
    }
}

#[test]
fn quantize_weights_puts_each_weight_on_its_int8_grid_and_leaves_the_biases() {
    let mut model = net();
    let before = read_tensors(&model);
    let mut qat = QuantizeCallback::new();
    qat.quantize_weights(&mut model).unwrap();
    assert!(qat.holds_float_weights());
    for (name, rows) in [("0.weight", 3), ("2.weight", 2)] {
        let float = &before.iter().find(|t| t.name == name).unwrap().data;
        let now = values(&model, name);
        assert_ne!(&now, float, "{name} changed");
        assert_on_grid(float, &now, rows);
    }
    for name in ["0.bias", "2.bias"] {
        assert_eq!(values(&model, name), before.iter().find(|t| t.name == name).unwrap().data, "{name} stays float");
    }
}

#[test]
fn apply_step_gives_back_the_float_weights_moved_by_the_update() {
    let mut model = net();
    let float = values(&model, "0.weight");
    let mut qat = QuantizeCallback::new();

    qat.quantize_weights(&mut model).unwrap();
    qat.apply_step(&mut model).unwrap();
    assert_eq!(values(&model, "0.weight"), float, "no update: exactly the float weights");
    assert!(!qat.holds_float_weights());

    qat.quantize_weights(&mut model).unwrap();
    let delta: Vec<f32> = (0..float.len()).map(|i| (i as f32 - 5.0) * 1e-3).collect();
    let stepped: Vec<f32> = values(&model, "0.weight").iter().zip(&delta).map(|(q, d)| q + d).collect();
    write_tensor(&mut model, "0.weight", &stepped).unwrap(); // what the optimizer does
    qat.apply_step(&mut model).unwrap();
    for (i, ((now, f), d)) in values(&model, "0.weight").iter().zip(&float).zip(&delta).enumerate() {
        assert!((now - (f + d)).abs() < 1e-6, "weight {i}: {now} vs {} + {d}", f);
    }
}

#[test]
fn restore_and_a_second_quantize_never_lose_the_float_weights() {
    let mut model = net();
    let float = values(&model, "2.weight");
    let mut qat = QuantizeCallback::new();
    qat.quantize_weights(&mut model).unwrap();
    qat.quantize_weights(&mut model).unwrap(); // no step in between: the float copy is the first one
    qat.restore(&mut model).unwrap();
    assert_eq!(values(&model, "2.weight"), float);
    qat.restore(&mut model).unwrap(); // nothing held: nothing written
    assert_eq!(values(&model, "2.weight"), float);
}

#[test]
fn excluded_layers_stay_float_and_unknown_ones_are_errors() {
    let mut model = net();
    let float = values(&model, "2.weight");
    let mut qat = QuantizeCallback::new().excluding(&["2"]);
    assert_eq!(qat.layers::<Net>().unwrap(), ["0"]);
    qat.quantize_weights(&mut model).unwrap();
    assert_eq!(values(&model, "2.weight"), float);

    let err = QuantizeCallback::new().excluding(&["1"]).quantize_weights(&mut model).unwrap_err();
    assert_eq!(err, QatError::UnknownLayer { name: "1".into(), valid: "0, 2".into() }, "ReLU has no weights");
    assert!(err.to_string().contains("`1`"), "{err}");
}

/// `start − lr · grad`, one SGD step.
fn stepped<S: Shape>(start: &Tensor<S, f32, Cpu>, grad: Vec<f32>, lr: f32) -> Vec<f32> {
    start.as_vec().iter().zip(grad).map(|(w, g)| w - lr * g).collect()
}

#[test]
fn an_sgd_step_applies_the_gradient_taken_at_the_quantized_weights_to_the_float_ones() {
    let x: Vec<f32> = (0..32).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
    let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
    let set = Dataset::new(x.clone(), labels.clone(), [1, 1, 4], 2).unwrap();
    let lr = 0.5;
    let model = net();
    let mut learn: Learner<_, (usize, Const<4>), 2> =
        Learner::new(model.clone(), DataLoaders::new(set.clone(), set, 8, 0))
            .with_optimizer(OptimizerConfig::Sgd(SgdConfig { lr, momentum: None, weight_decay: None }))
            .with_output(Output::Quiet);
    let mut qat = QuantizeCallback::new();
    learn.fit_with(1, LrSchedule::Constant { lr }, &mut [&mut qat]).unwrap();
    assert!(!qat.holds_float_weights(), "the model ends with float weights");

    // The same step by hand: gradient of the mean cross-entropy at the quantized weights.
    let mut at_grid = model.clone();
    assert_eq!(quantize_weights_in_place(&mut at_grid).unwrap(), ["0.weight", "2.weight"]);
    let input = Cpu::default().tensor_from_vec(x, (8, Const::<4>));
    let grads = cross_entropy(at_grid.forward(input.leaky_trace()), &labels).unwrap().backward();
    let lr32 = lr as f32;
    let trained = learn.model();
    for (name, got, want) in [
        ("0.weight", trained.0.weight.as_vec(), stepped(&model.0.weight, grads.get(&at_grid.0.weight).as_vec(), lr32)),
        ("2.weight", trained.2.weight.as_vec(), stepped(&model.2.weight, grads.get(&at_grid.2.weight).as_vec(), lr32)),
        ("0.bias", trained.0.bias.as_vec(), stepped(&model.0.bias, grads.get(&at_grid.0.bias).as_vec(), lr32)),
    ] {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-5, "{name}[{i}]: {g} vs {w}");
        }
    }
    // The check tells the two apart: a plain step (gradient at the float weights) lands elsewhere.
    let float_grads = cross_entropy(model.forward(input.leaky_trace()), &labels).unwrap().backward();
    let plain = stepped(&model.0.weight, float_grads.get(&model.0.weight).as_vec(), lr32);
    let gap = plain.iter().zip(trained.0.weight.as_vec()).map(|(p, t)| (p - t).abs()).fold(0.0, f32::max);
    assert!(gap > 1e-4, "QAT's step differs from the float one, by {gap}");
}
