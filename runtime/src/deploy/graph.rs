//! The inference graph of a derived model: its layers read from [`Compressible::LAYERS`], with every
//! BatchNorm folded into the conv/linear layer before it and every ReLU fused into the layer before it.
//!
//! [`plan_nodes`] reads the structure only (so a quantized file can be checked against a model type
//! without any weights); [`folded_weights`] reads one conv/linear node's weights from a model and
//! folds its BatchNorm (`W' = W·γ/√(σ²+ε)`, `b' = (b−μ)·γ/√(σ²+ε)+β`, the arithmetic of
//! [`crate::compress::fold::fold_into`]).
//!
//! Supported: `Conv2D` (biased or not), `BatchNorm2D` right after a conv, `ReLU`, `MaxPool2D`,
//! `AvgPool2D`, `AdaptiveAvgPool2D`, `GlobalAvgPool`, `Flatten` (free), `Linear` (biased or not;
//! factorized pairs are two linears), `BatchNorm1D` right after a linear, `Dropout` (identity in
//! inference). Anything else is a [`DeployError`] naming the layer.

use dfdx::nn::{RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef};
use dfdx::prelude::{Cpu, Shape, Tensor};

use super::DeployError;
use crate::compress::fold::{fold_into, BnStats};
use crate::model::{read_tensor, Compressible, LayerInfo, LayerKindInfo, ShapeInfo};
use crate::ops::pool2d::PoolWindow;

/// What one node of the plan computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A convolution over a `C×H×W` map, with its BatchNorm folded and its ReLU fused.
    Conv {
        /// Output channels.
        out_channels: usize,
        /// Square kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Whether the layer itself has a bias tensor.
        bias: bool,
        /// The BatchNorm folded into it.
        batch_norm: Option<&'static str>,
        /// Whether a ReLU follows (fused).
        relu: bool,
    },
    /// A fully connected layer, with its BatchNorm1D folded and its ReLU fused.
    Linear {
        /// Output features.
        out_features: usize,
        /// Whether the layer itself has a bias tensor.
        bias: bool,
        /// The BatchNorm folded into it.
        batch_norm: Option<&'static str>,
        /// Whether a ReLU follows (fused).
        relu: bool,
    },
    /// A ReLU that follows no conv/linear layer directly (after a pooling, say).
    Relu,
    /// Max pooling.
    MaxPool(PoolWindow),
    /// Average pooling (padding counts as 0).
    AvgPool(PoolWindow),
    /// Adaptive average pooling to `out_h × out_w`.
    AdaptiveAvgPool {
        /// Output rows.
        out_h: usize,
        /// Output columns.
        out_w: usize,
    },
    /// One mean per channel.
    GlobalAvgPool,
}

/// One node: the layer it comes from, its input and output shapes, and its op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// The field name of the conv/linear/pooling layer (a fused ReLU or folded BatchNorm has none of its own).
    pub layer: &'static str,
    /// The shape it receives.
    pub input: ShapeInfo,
    /// The shape it produces (after the fused BatchNorm and ReLU).
    pub output: ShapeInfo,
    /// What it computes.
    pub op: Op,
}

impl Node {
    /// Whether the node holds weights (a conv or linear layer).
    pub fn has_weights(&self) -> bool {
        matches!(self.op, Op::Conv { .. } | Op::Linear { .. })
    }

    /// The shape of the weight tensor, `[O, C, K, K]` or `[O, I]`, if the node has one.
    pub fn weight_shape(&self) -> Option<Vec<usize>> {
        match self.op {
            Op::Conv { out_channels, kernel, .. } => Some(vec![out_channels, self.input.channels(), kernel, kernel]),
            Op::Linear { out_features, .. } => Some(vec![out_features, self.input.numel()]),
            _ => None,
        }
    }
}

fn chw(layer: &LayerInfo) -> Result<(usize, usize, usize), DeployError> {
    match layer.input {
        ShapeInfo::Chw { c, h, w } => Ok((c, h, w)),
        flat => Err(DeployError::ShapeKind { layer: layer.name, needs: "a C×H×W feature map", found: flat.to_string() }),
    }
}

/// The nodes of `M`'s inference plan, from its static description alone.
///
/// ```
/// use fasterai_runtime::deploy::graph::{plan_nodes, Op};
/// use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
/// struct Mlp;
/// impl Compressible for Mlp {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 4 };
///     const LAYERS: &'static [LayerInfo] = &[
///         LayerInfo { name: "fc", kind: LayerKindInfo::Linear { in_features: 4, out_features: 2, bias: true },
///             input: ShapeInfo::Flat { n: 4 }, output: ShapeInfo::Flat { n: 2 }, params: 10, macs: 8, tapped: false },
///         LayerInfo { name: "relu", kind: LayerKindInfo::Activation { name: "ReLU" },
///             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 0, macs: 0, tapped: false },
///     ];
///     const COUPLINGS: &'static [Coupling] = &[];
/// }
/// let nodes = plan_nodes::<Mlp>().unwrap();
/// assert_eq!(nodes.len(), 1); // the ReLU is fused
/// assert!(matches!(nodes[0].op, Op::Linear { relu: true, .. }));
/// ```
pub fn plan_nodes<M: Compressible>() -> Result<Vec<Node>, DeployError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut previous: Option<&'static LayerInfo> = None;
    for layer in M::LAYERS {
        let node = |op| Node { layer: layer.name, input: layer.input, output: layer.output, op };
        match layer.kind {
            LayerKindInfo::Conv2D { out_channels, kernel, stride, padding, bias, .. } => {
                chw(layer)?;
                nodes.push(node(Op::Conv { out_channels, kernel, stride, padding, bias, batch_norm: None, relu: false }));
            }
            LayerKindInfo::Linear { out_features, bias, .. } => {
                nodes.push(node(Op::Linear { out_features, bias, batch_norm: None, relu: false }));
            }
            LayerKindInfo::BatchNorm2D { .. } | LayerKindInfo::BatchNorm1D { .. } => {
                let conv = matches!(layer.kind, LayerKindInfo::BatchNorm2D { .. });
                let after_producer = previous.is_some_and(|p| match p.kind {
                    LayerKindInfo::Conv2D { .. } => conv,
                    LayerKindInfo::Linear { .. } => !conv,
                    _ => false,
                });
                let slot = match nodes.last_mut() {
                    Some(Node { op: Op::Conv { batch_norm, .. } | Op::Linear { batch_norm, .. }, .. }) if after_producer => {
                        batch_norm
                    }
                    _ => {
                        return Err(DeployError::UnfoldableBatchNorm {
                            layer: layer.name,
                            expected: if conv { "Conv2D" } else { "Linear" },
                            after: previous.map_or("nothing (it is the first layer)".into(), |p| format!("`{}`", p.name)),
                        })
                    }
                };
                *slot = Some(layer.name);
                nodes.last_mut().expect("matched above").output = layer.output;
            }
            LayerKindInfo::Activation { name: "ReLU" } => match nodes.last_mut() {
                Some(Node { op: Op::Conv { relu, .. } | Op::Linear { relu, .. }, .. }) if !*relu => *relu = true,
                _ => nodes.push(node(Op::Relu)),
            },
            LayerKindInfo::Activation { name } => {
                return Err(DeployError::UnsupportedLayer {
                    layer: layer.name,
                    kind: name.to_string(),
                    hint: "only ReLU activations are fused; replace it with ReLU",
                })
            }
            LayerKindInfo::MaxPool2D { kernel, stride, padding } => {
                chw(layer)?;
                nodes.push(node(Op::MaxPool(PoolWindow { kernel, stride, padding })));
            }
            LayerKindInfo::AvgPool2D { kernel, stride, padding } => {
                chw(layer)?;
                nodes.push(node(Op::AvgPool(PoolWindow { kernel, stride, padding })));
            }
            LayerKindInfo::AdaptiveAvgPool2D { out_h, out_w } => {
                chw(layer)?;
                nodes.push(node(Op::AdaptiveAvgPool { out_h, out_w }));
            }
            LayerKindInfo::GlobalAvgPool => {
                chw(layer)?;
                nodes.push(node(Op::GlobalAvgPool));
            }
            // Flatten reorders nothing (NCHW is already channel-major); Dropout is the identity.
            LayerKindInfo::Flatten | LayerKindInfo::Dropout => {}
        }
        previous = Some(layer);
    }
    Ok(nodes)
}

/// Finds a scalar (a BatchNorm's `epsilon`) by name.
struct ScalarReader<'n> {
    name: &'n str,
    found: Option<f64>,
}

impl TensorVisitor<f32, Cpu> for ScalarReader<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        _: (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        (value, name): (&N, String),
    ) -> Result<Option<N>, Self::Err> {
        if name == self.name {
            self.found = value.to_f64();
        }
        Ok(None)
    }
}

fn read_scalar<M: TensorCollection<f32, Cpu>>(model: &M, name: &str) -> Result<f64, DeployError> {
    let mut reader = ScalarReader { name, found: None };
    match M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut reader }) {
        Ok(_) => {}
        Err(never) => match never {},
    }
    reader.found.ok_or_else(|| DeployError::MissingScalar { name: name.to_string() })
}

/// The weights of a conv/linear node with its BatchNorm folded in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoldedWeights {
    /// Out-channel-major: row `o` holds every weight of output `o`.
    pub weight: Vec<f32>,
    /// One per output; `None` only for a bias-free layer without BatchNorm.
    pub bias: Option<Vec<f32>>,
}

/// The weight and bias of a conv/linear node, with its BatchNorm folded in; `None` for a node
/// without weights.
pub fn folded_weights<M>(model: &M, node: &Node) -> Result<Option<FoldedWeights>, DeployError>
where
    M: TensorCollection<f32, Cpu>,
{
    let (bias, batch_norm) = match node.op {
        Op::Conv { bias, batch_norm, .. } | Op::Linear { bias, batch_norm, .. } => (bias, batch_norm),
        _ => return Ok(None),
    };
    let weight = read_tensor(model, &format!("{}.weight", node.layer))?.data;
    let bias = if bias { Some(read_tensor(model, &format!("{}.bias", node.layer))?.data) } else { None };
    let Some(bn) = batch_norm else { return Ok(Some(FoldedWeights { weight, bias })) };
    let gamma_name = match node.op {
        Op::Conv { .. } => "weight", // our BatchNorm2D
        _ => "scale",                // dfdx's BatchNorm1D
    };
    let get = |field: &str| read_tensor(model, &format!("{bn}.{field}")).map(|t| t.data);
    let (gamma, beta, mean, var) = (get(gamma_name)?, get("bias")?, get("running_mean")?, get("running_var")?);
    let epsilon = read_scalar(model, &format!("{bn}.epsilon"))?;
    let stats = BnStats { gamma: &gamma, beta: &beta, mean: &mean, var: &var, epsilon };
    let (weight, bias) = fold_into(node.layer, &weight, bias.as_deref(), &stats)?;
    Ok(Some(FoldedWeights { weight, bias: Some(bias) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Coupling;

    const fn layer(name: &'static str, kind: LayerKindInfo, input: ShapeInfo, output: ShapeInfo) -> LayerInfo {
        LayerInfo { name, kind, input, output, params: 0, macs: 0, tapped: false }
    }
    const MAP: ShapeInfo = ShapeInfo::Chw { c: 2, h: 4, w: 4 };
    const HALF: ShapeInfo = ShapeInfo::Chw { c: 2, h: 2, w: 2 };
    const FLAT: ShapeInfo = ShapeInfo::Flat { n: 8 };
    const CONV: LayerKindInfo =
        LayerKindInfo::Conv2D { in_channels: 2, out_channels: 2, kernel: 3, stride: 1, padding: 1, bias: false };
    const BN: LayerKindInfo = LayerKindInfo::BatchNorm2D { channels: 2 };
    const RELU: LayerKindInfo = LayerKindInfo::Activation { name: "ReLU" };
    const POOL: LayerKindInfo = LayerKindInfo::MaxPool2D { kernel: 2, stride: 2, padding: 0 };

    macro_rules! described {
        ($name:ident, $input:expr, [$($layer:expr),* $(,)?]) => {
            struct $name;
            impl Compressible for $name {
                const INPUT: ShapeInfo = $input;
                const LAYERS: &'static [LayerInfo] = &[$($layer),*];
                const COUPLINGS: &'static [Coupling] = &[];
            }
        };
    }

    described!(Fused, MAP, [
        layer("conv", CONV, MAP, MAP),
        layer("bn", BN, MAP, MAP),
        layer("relu", RELU, MAP, MAP),
        layer("pool", POOL, MAP, HALF),
        layer("relu2", RELU, HALF, HALF),
        layer("flatten", LayerKindInfo::Flatten, HALF, FLAT),
        layer("drop", LayerKindInfo::Dropout, FLAT, FLAT),
        layer("fc", LayerKindInfo::Linear { in_features: 8, out_features: 3, bias: true }, FLAT, ShapeInfo::Flat { n: 3 }),
    ]);

    #[test]
    fn batch_norm_and_relu_fold_into_the_conv_and_flatten_dropout_vanish() {
        let nodes = plan_nodes::<Fused>().unwrap();
        let ops: Vec<(&str, Op)> = nodes.iter().map(|n| (n.layer, n.op)).collect();
        assert_eq!(
            ops,
            [
                ("conv", Op::Conv { out_channels: 2, kernel: 3, stride: 1, padding: 1, bias: false, batch_norm: Some("bn"), relu: true }),
                ("pool", Op::MaxPool(PoolWindow { kernel: 2, stride: 2, padding: 0 })),
                ("relu2", Op::Relu),
                ("fc", Op::Linear { out_features: 3, bias: true, batch_norm: None, relu: false }),
            ]
        );
        assert_eq!(nodes[3].input, FLAT);
        assert_eq!(nodes[0].weight_shape(), Some(vec![2, 2, 3, 3]));
        assert_eq!(nodes[3].weight_shape(), Some(vec![3, 8]));
        assert_eq!(nodes[1].weight_shape(), None);
    }

    described!(NormFirst, MAP, [layer("bn", BN, MAP, MAP), layer("conv", CONV, MAP, MAP)]);
    described!(NormAfterPool, MAP, [layer("conv", CONV, MAP, MAP), layer("pool", POOL, MAP, HALF), layer("bn", BN, HALF, HALF)]);
    described!(Norm1dAfterConv, MAP, [
        layer("conv", CONV, MAP, MAP),
        layer("bn", LayerKindInfo::BatchNorm1D { features: 2 }, MAP, MAP),
    ]);
    described!(Gelu, MAP, [layer("conv", CONV, MAP, MAP), layer("act", LayerKindInfo::Activation { name: "GeLU" }, MAP, MAP)]);
    described!(PoolOnVector, FLAT, [layer("pool", POOL, FLAT, FLAT)]);

    #[test]
    fn layers_that_cannot_run_are_errors_naming_them() {
        let error = plan_nodes::<NormFirst>().unwrap_err();
        assert!(matches!(error, DeployError::UnfoldableBatchNorm { layer: "bn", expected: "Conv2D", .. }), "{error}");
        assert!(error.to_string().contains("first layer"), "{error}");
        let error = plan_nodes::<NormAfterPool>().unwrap_err();
        assert!(error.to_string().contains("`pool`"), "{error}");
        let error = plan_nodes::<Norm1dAfterConv>().unwrap_err();
        assert!(matches!(error, DeployError::UnfoldableBatchNorm { expected: "Linear", .. }), "{error}");
        let error = plan_nodes::<Gelu>().unwrap_err();
        assert!(matches!(&error, DeployError::UnsupportedLayer { layer: "act", kind, .. } if kind == "GeLU"), "{error}");
        let error = plan_nodes::<PoolOnVector>().unwrap_err();
        assert!(matches!(error, DeployError::ShapeKind { layer: "pool", .. }), "{error}");
    }
}
