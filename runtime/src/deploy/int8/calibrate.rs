//! Static post-training quantization: calibrate activation ranges on the fp32 plan, quantize weights
//! and biases, assemble the int8 plan.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::file::float_logits;
use super::layer::{quantize_bias, Int8Layer};
use super::residual::QuantChain;
use super::{Int8Model, ObserverKind, QuantizeOptions};
use crate::deploy::graph::{folded_weights, FoldedWeights, Op};
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
/// ```
/// use fasterai_runtime::deploy::{accelerate, quantize_static, Int8Model, QuantizeOptions};
/// use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::model::Coupling;
/// # // What `#[derive(Compressible)]` (crate `fasterai`) writes for `struct Net { fc: Linear<3, 2>, relu: ReLU }`:
/// # struct Net<E: Dtype = f32, D: Device<E> = Cpu> { fc: Linear<3, 2, E, D> }
/// # impl TensorCollection<f32, Cpu> for Net {
/// #     type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields(Self::module("fc", |s| &s.fc, |s| &mut s.fc), |fc| Net { fc })
/// #     }
/// # }
/// # impl Compressible for Net {
/// #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
/// #     const LAYERS: &'static [LayerInfo] = &[
/// #         LayerInfo { name: "fc", kind: LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true },
/// #             input: ShapeInfo::Flat { n: 3 }, output: ShapeInfo::Flat { n: 2 }, params: 8, macs: 6, tapped: false },
/// #         LayerInfo { name: "relu", kind: LayerKindInfo::Activation { name: "ReLU" },
/// #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 0, macs: 0, tapped: false },
/// #     ];
/// #     const COUPLINGS: &'static [Coupling] = &[];
/// # }
/// let dev = Cpu::default();
/// let model = Net { fc: BuildModule::build(&dev) }; // fc: Linear<3, 2> → ReLU
/// let calibration: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect(); // 10 images of 3
/// let mut int8 = quantize_static(&model, &calibration, 10, QuantizeOptions::default())?;
/// let mut fp32 = accelerate(&model)?;
/// let image = [0.2, -0.5, 0.9];
/// let (q, f) = (int8.run(&image)?.to_vec(), fp32.run(&image)?.to_vec());
/// assert!(q.iter().zip(&f).all(|(a, b)| (a - b).abs() < 0.02), "{q:?} vs {f:?}");
///
/// let path = std::env::temp_dir().join(format!("doc-int8-{}.safetensors", std::process::id()));
/// int8.save(&path)?;
/// let mut loaded = Int8Model::<Net>::load(&path)?;
/// assert_eq!(loaded.run(&image)?, q.as_slice());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasterai_runtime::Error>(())
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
        .map(|node| (node.has_weights() || matches!(node.op, Op::Add { .. })).then(|| observer(options.observer)).transpose())
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
    let mut chain = QuantChain::new(input);
    let mut layers = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let layer = match (node.op, &observers[index]) {
            (Op::Conv { out_channels, .. } | Op::Linear { out_features: out_channels, .. }, Some(obs)) => {
                // The plan's kernels hold the weights in their own layouts: fold them again.
                let FoldedWeights { weight, bias } = folded_weights(model, node)?.unwrap_or_default();
                let weights = QuantizedWeights::quantize(&weight, out_channels)?;
                let current = chain.current();
                let bias = quantize_bias(bias.as_deref(), current, &weights)?;
                let output = if float_logits(&nodes, index) { None } else { Some(obs.qparams()?) };
                Int8Layer { node: *node, input: current, output, weights: Some(weights), bias }
            }
            (_, obs) => chain.plain(*node, || Ok(obs.as_ref().expect("an add has an observer").qparams()?))?,
        };
        chain.advance(&layer);
        layers.push(layer);
    }
    Int8Model::assemble(input, layers, M::INPUT, M::output())
}
