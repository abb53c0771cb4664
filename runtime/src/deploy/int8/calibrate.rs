//! Static post-training quantization: calibrate activation ranges on the fp32 plan, quantize weights
//! and biases, assemble the int8 plan.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::file::float_logits;
use super::layer::{quantize_bias, Int8Layer};
use super::{Int8Model, ObserverKind, QuantizeOptions};
use crate::deploy::graph::Op;
use crate::deploy::{accelerate, DeployError};
use crate::model::Compressible;
use crate::quant::{MinMaxObserver, MseObserver, Observer, PercentileObserver, QuantError, QuantizedWeights};

fn observer(kind: ObserverKind) -> Result<Box<dyn Observer>, QuantError> {
    Ok(match kind {
        ObserverKind::MinMax => Box::new(MinMaxObserver::default()),
        ObserverKind::Percentile(p) => Box::new(PercentileObserver::new(p)?),
        ObserverKind::Mse => Box::new(MseObserver::default()),
    })
}

/// Quantizes `model` to int8 after training: `calibration` holds `n` images (row-major, one after
/// the other) that are run through the fp32 plan to choose the range of every quantized activation.
///
/// The model's input and the output of every conv/linear layer (after its fused ReLU) get their own
/// `u8` parameters; pooling keeps its input's; a final linear layer outputs `f32` logits directly.
///
/// Errors: an empty calibration set, a calibration length that is not `n` images, a layer the
/// plans do not support (named), and degenerate ranges (a multiplier or bias that does not fit).
///
/// ```ignore
/// let mut int8 = quantize_static(&model, &images, 32, QuantizeOptions::default())?;
/// let logits = int8.run(&images[..784])?;
/// int8.save("model.int8.safetensors")?;
/// ```
pub fn quantize_static<M>(
    model: &M,
    calibration: &[f32],
    n: usize,
    options: QuantizeOptions,
) -> Result<Int8Model<M>, DeployError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut plan = accelerate(model)?;
    let per_image = plan.input_len();
    if n == 0 || calibration.is_empty() {
        return Err(DeployError::EmptyCalibration);
    }
    if calibration.len() != n * per_image {
        return Err(DeployError::BatchLength {
            what: "calibration set",
            images: n,
            per_image,
            found: calibration.len(),
        });
    }
    let nodes: Vec<_> = plan.nodes().copied().collect();
    let mut input_observer = observer(options.observer)?;
    let mut observers = nodes
        .iter()
        .map(|node| node.has_weights().then(|| observer(options.observer)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    for image in calibration.chunks_exact(per_image) {
        input_observer.observe(image)?;
        plan.run_observed(image, |index, output| {
            if let Some(obs) = &mut observers[index] {
                obs.observe(output)?;
            }
            Ok(())
        })?;
    }

    let input = input_observer.qparams()?;
    let mut current = input;
    let mut layers = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let layer = match (node.op, &observers[index]) {
            (Op::Conv { out_channels, .. } | Op::Linear { out_features: out_channels, .. }, Some(obs)) => {
                let (weight, bias) = plan.weights(index);
                let weights = QuantizedWeights::quantize(weight, out_channels)?;
                let bias = quantize_bias(bias, current, &weights)?;
                let output = if float_logits(&nodes, index) { None } else { Some(obs.qparams()?) };
                Int8Layer { node: *node, input: current, output, weights: Some(weights), bias }
            }
            _ => Int8Layer { node: *node, input: current, output: Some(current), weights: None, bias: Vec::new() },
        };
        current = layer.output.unwrap_or(current);
        layers.push(layer);
    }
    Int8Model::assemble(input, layers, M::INPUT, M::output())
}
