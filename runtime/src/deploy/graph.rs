//! The inference graph of a derived model: its layers read from [`Compressible::LAYERS`], with every
//! BatchNorm folded into the conv/linear layer before it and every ReLU fused into the layer before it.
//!
//! [`plan_nodes`] reads the structure only (so a quantized file can be checked against a model type
//! without any weights); [`folded_weights`] reads one conv/linear node's weights from a model and
//! folds its BatchNorm (`W' = W·γ/√(σ²+ε)`, `b' = (b−μ)·γ/√(σ²+ε)+β`, the arithmetic of
//! [`crate::nn::fold::fold_into`]).
//!
//! An `AdaptiveAvgPool2D` that *enlarges* the map right before a `Linear` (VGG's 4×4 → 7×7 at
//! 128×128 inputs) is folded into the Linear: both are linear maps, so the plan stores
//! `W' = W·P` over the small map (`P` the pooling) and never builds the large one. For VGG16-BN that
//! turns `fc1`'s 25088 inputs into 8192: a third of the weights to read per image.
//!
//! Supported: `Conv2D` (biased or not), `BatchNorm2D` right after a conv, `ReLU`, `MaxPool2D`,
//! `AvgPool2D`, `AdaptiveAvgPool2D`, `GlobalAvgPool`, the markers of residual blocks (`Fork`,
//! `Shortcut`, `Add`, each a node), `Flatten` (free), `Linear` (biased or not;
//! factorized pairs are two linears), `BatchNorm1D` right after a linear, `Dropout` (identity in
//! inference). Anything else is a [`DeployError`] naming the layer.

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::DeployError;
use crate::nn::fold::{fold_into, BnStats};
use crate::model::{read_tensor, Compressible, LayerInfo, LayerKindInfo, ShapeInfo};
use crate::kernels::pool::{adaptive_bin, PoolWindow};

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
        /// An enlarging adaptive average pooling to `(out_h, out_w)` before it, folded into its
        /// weights: the node then reads the pooling's (smaller) input map.
        adaptive_pool: Option<(usize, usize)>,
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
    /// A residual block begins: its input is kept.
    Fork,
    /// The block's shortcut begins: the main path's output is put aside, the kept input taken up.
    Shortcut,
    /// The block ends: the two paths added, then a ReLU if `relu`.
    Add {
        /// Whether a ReLU follows the add.
        relu: bool,
    },
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
                let mut linear = node(Op::Linear { out_features, bias, batch_norm: None, relu: false, adaptive_pool: None });
                if let Some(&Node { op: Op::AdaptiveAvgPool { out_h, out_w }, input, output, .. }) = nodes.last() {
                    // Only Flatten/Dropout (no nodes) can sit between them: the sizes agree.
                    if output.numel() == layer.input.numel() && output.numel() > input.numel() {
                        nodes.pop();
                        linear.input = input;
                        linear.op = Op::Linear { out_features, bias, batch_norm: None, relu: false, adaptive_pool: Some((out_h, out_w)) };
                    }
                }
                nodes.push(linear);
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
            LayerKindInfo::Fork => nodes.push(node(Op::Fork)),
            LayerKindInfo::Shortcut => nodes.push(node(Op::Shortcut)),
            LayerKindInfo::Add { relu } => nodes.push(node(Op::Add { relu })),
        }
        previous = Some(layer);
    }
    Ok(nodes)
}

fn read_scalar<M: TensorCollection<f32, Cpu>>(model: &M, name: &str) -> Result<f64, DeployError> {
    let mut found = None;
    crate::nn::walk::walk::<f32, Cpu, M>(model, |item| {
        if let crate::nn::walk::Item::Scalar { name: n, value } = item {
            if n == name {
                found = Some(value);
            }
        }
    });
    found.ok_or_else(|| DeployError::MissingScalar { name: name.to_string() })
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
    let mut weight = read_tensor(model, &format!("{}.weight", node.layer))?.data;
    if let (Op::Linear { out_features, adaptive_pool: Some(pooled), .. }, ShapeInfo::Chw { c, h, w }) = (node.op, node.input) {
        weight = fold_adaptive_pool(&weight, out_features, (c, h, w), pooled);
    }
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

/// `W·P` for the `[O, C·OH·OW]` weight `w` of a Linear reading an adaptive average pooling of
/// `(c, h, w)` maps to `(OH, OW)` (PyTorch's bins): `[O, C·H·W]`, each input pixel's weight the sum of
/// the weights of the bins that average it, each divided by its bin's size.
fn fold_adaptive_pool(weight: &[f32], outputs: usize, (c, h, w): (usize, usize, usize), (oh, ow): (usize, usize)) -> Vec<f32> {
    let mut folded = vec![0.0; outputs * c * h * w];
    for (row, folded) in weight.chunks_exact(c * oh * ow).zip(folded.chunks_exact_mut(c * h * w)) {
        for (bins, pixels) in row.chunks_exact(oh * ow).zip(folded.chunks_exact_mut(h * w)) {
            for by in 0..oh {
                let rows = adaptive_bin(by, h, oh);
                for bx in 0..ow {
                    let cols = adaptive_bin(bx, w, ow);
                    let share = bins[by * ow + bx] / (rows.len() * cols.len()) as f32;
                    for y in rows.clone() {
                        for v in &mut pixels[y * w + cols.start..y * w + cols.end] {
                            *v += share;
                        }
                    }
                }
            }
        }
    }
    folded
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
                ("fc", Op::Linear { out_features: 3, bias: true, batch_norm: None, relu: false, adaptive_pool: None }),
            ]
        );
        assert_eq!(nodes[3].input, FLAT);
        assert_eq!(nodes[0].weight_shape(), Some(vec![2, 2, 3, 3]));
        assert_eq!(nodes[3].weight_shape(), Some(vec![3, 8]));
        assert_eq!(nodes[1].weight_shape(), None);
    }

    const WIDE: ShapeInfo = ShapeInfo::Chw { c: 2, h: 5, w: 5 };
    const WIDE_FLAT: ShapeInfo = ShapeInfo::Flat { n: 50 };
    const HALF_FLAT: ShapeInfo = ShapeInfo::Flat { n: 8 };
    described!(Enlarging, HALF, [
        layer("wide", LayerKindInfo::AdaptiveAvgPool2D { out_h: 5, out_w: 5 }, HALF, WIDE),
        layer("flatten", LayerKindInfo::Flatten, WIDE, WIDE_FLAT),
        layer("fc", LayerKindInfo::Linear { in_features: 50, out_features: 3, bias: true }, WIDE_FLAT, ShapeInfo::Flat { n: 3 }),
    ]);
    described!(Shrinking, MAP, [
        layer("narrow", LayerKindInfo::AdaptiveAvgPool2D { out_h: 2, out_w: 2 }, MAP, HALF),
        layer("flatten", LayerKindInfo::Flatten, HALF, HALF_FLAT),
        layer("fc", LayerKindInfo::Linear { in_features: 8, out_features: 3, bias: true }, HALF_FLAT, ShapeInfo::Flat { n: 3 }),
    ]);

    #[test]
    fn only_an_enlarging_adaptive_pool_folds_into_the_linear_after_it() {
        let nodes = plan_nodes::<Enlarging>().unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!((nodes[0].layer, nodes[0].input), ("fc", HALF));
        assert!(matches!(nodes[0].op, Op::Linear { adaptive_pool: Some((5, 5)), .. }));
        assert_eq!(nodes[0].weight_shape(), Some(vec![3, 8]));
        let nodes = plan_nodes::<Shrinking>().unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(matches!(nodes[1].op, Op::Linear { adaptive_pool: None, .. }));
    }

    #[test]
    fn the_folded_weight_reads_each_pixel_through_its_bins() {
        // One output, one 2×2 channel pooled to 3×3: bins (rows × cols) are {0}, {0,1}, {1} each way.
        let w: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let folded = fold_adaptive_pool(&w, 1, (1, 2, 2), (3, 3));
        // Pixel (0,0) is in bins (0,0) alone, (0,1) and (1,0) shared by 2, (1,1) shared by 4.
        let expected0 = 1.0 + 2.0 / 2.0 + 4.0 / 2.0 + 5.0 / 4.0;
        assert_eq!(folded[0], expected0);
        let expected3 = 9.0 + 8.0 / 2.0 + 6.0 / 2.0 + 5.0 / 4.0;
        assert_eq!(folded[3], expected3);
        assert_eq!(folded.iter().sum::<f32>(), 45.0); // every bin's weight is spread whole
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
