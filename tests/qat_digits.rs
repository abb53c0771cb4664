//! Quantization-aware training on the embedded digits: a derived CNN trains a few steps with its
//! convolution and linear weights fake-quantized to int8, ends with float weights, and puts them on
//! the int8 grid afterwards without losing its accuracy.

use fasterai::data::{DataLoaders, Dataset};
use fasterai::model::{read_tensor, read_tensors};
use fasterai::prelude::*;
use fasterai::compress::quantize::quantize_weights_in_place;
use fasterai::quant::QuantizedWeights;

/// A folded digits CNN (no BatchNorm: QAT runs after `fold()`).
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, relu1: ReLU,
    conv2: Conv2D<8, 16, 3, 1, 1>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc: Linear<256, 10>,
}

type Input = (usize, Const<1>, Const<8>, Const<8>);
const WEIGHTS: [&str; 3] = ["conv1.weight", "conv2.weight", "fc.weight"];

/// 512 training digits (16 batches of 32) and the whole validation split.
fn data() -> DataLoaders {
    let (train, valid) = digits(0.2, 0).unwrap();
    let first = |set: &Dataset, n: usize| set.select(&(0..n).collect::<Vec<_>>()).unwrap();
    DataLoaders::new(first(&train, 512), valid, 32, 0)
}

/// Whether every value of `name` equals its int8 round trip.
fn on_grid(model: &Net, name: &str) -> bool {
    let t = read_tensor(model, name).unwrap();
    QuantizedWeights::quantize(&t.data, t.shape[0]).unwrap().dequantize() == t.data
}

#[test]
fn qat_trains_a_derived_cnn_and_leaves_float_weights() {
    let model = Cpu::seed_from_u64(3).build_module::<Net, f32>();
    let mut qat = QuantizeCallback::new();
    let mut learn: Learner<_, Input, 10> = Learner::new(model, data()).with_output(Output::Quiet);
    assert_eq!(qat.layers::<Net>().unwrap(), ["conv1", "conv2", "fc"]);
    let history = learn.fit_with(2, LrSchedule::OneCycle(OneCycle::new(1e-2)), &mut [&mut qat]).unwrap();
    assert_eq!(history.epochs.len(), 2);
    assert!(history.epochs.iter().all(|e| e.train_loss.is_finite() && e.valid_loss.is_finite()));
    assert!(!qat.holds_float_weights());
    for name in WEIGHTS {
        assert!(!on_grid(learn.model(), name), "{name} holds the trained float weights, not grid values");
    }

    // On the grid, as the int8 model will hold them: the accuracy QAT trained for.
    let float = learn.validate().unwrap().accuracy.get();
    let biases_before =
        read_tensors(learn.model()).into_iter().filter(|t| t.name.ends_with("bias")).collect::<Vec<_>>();
    assert_eq!(quantize_weights_in_place(learn.model_mut()).unwrap(), WEIGHTS);
    for name in WEIGHTS {
        assert!(on_grid(learn.model(), name), "{name}");
    }
    let biases_after = read_tensors(learn.model()).into_iter().filter(|t| t.name.ends_with("bias")).collect::<Vec<_>>();
    assert_eq!(biases_before, biases_after, "biases stay float");
    let quantized = learn.validate().unwrap().accuracy.get();
    assert!(float > 0.5, "two short epochs learn the digits: {float}");
    assert!((float - quantized).abs() <= 0.05, "int8 weights keep the accuracy: {float} vs {quantized}");
}
