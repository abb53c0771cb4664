//! The static description of a derived model: layers, shapes, parameter counts, couplings.

use serde::Serialize;

/// The shape of one sample flowing between two layers (the batch dimension is left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ShapeInfo {
    /// A feature map of `c` channels, `h` rows and `w` columns.
    Chw {
        /// Channels.
        c: usize,
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
    },
    /// A vector of `n` features.
    Flat {
        /// Features.
        n: usize,
    },
}

impl ShapeInfo {
    /// The number of values in one sample of this shape.
    ///
    /// ```
    /// use fasterai_runtime::model::ShapeInfo;
    /// assert_eq!(ShapeInfo::Chw { c: 64, h: 7, w: 7 }.numel(), 3136);
    /// ```
    pub const fn numel(&self) -> usize {
        match *self {
            ShapeInfo::Chw { c, h, w } => c * h * w,
            ShapeInfo::Flat { n } => n,
        }
    }

    /// The channel count of a feature map, or the feature count of a vector.
    pub const fn channels(&self) -> usize {
        match *self {
            ShapeInfo::Chw { c, .. } => c,
            ShapeInfo::Flat { n } => n,
        }
    }
}

impl core::fmt::Display for ShapeInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ShapeInfo::Chw { c, h, w } => write!(f, "{c}×{h}×{w}"),
            ShapeInfo::Flat { n } => write!(f, "{n}"),
        }
    }
}

/// What a layer is, with the literal parameters the user wrote in its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LayerKindInfo {
    /// A 2-d convolution (`Conv2D`, or `UnbiasedConv2D` when `bias` is false).
    Conv2D {
        /// Input channels.
        in_channels: usize,
        /// Output channels (filters).
        out_channels: usize,
        /// Square kernel side.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
        /// Whether the layer adds a bias per filter.
        bias: bool,
    },
    /// Batch normalisation over the channels of a feature map.
    BatchNorm2D {
        /// Channels normalised.
        channels: usize,
    },
    /// Batch normalisation over the features of a vector.
    BatchNorm1D {
        /// Features normalised.
        features: usize,
    },
    /// An element-wise activation, named as in its type (`ReLU`, `Sigmoid`, ...).
    Activation {
        /// The activation's type name.
        name: &'static str,
    },
    /// Max pooling over square windows.
    MaxPool2D {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: usize,
    },
    /// Average pooling over square windows.
    AvgPool2D {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: usize,
    },
    /// Average pooling to a fixed output size.
    AdaptiveAvgPool2D {
        /// Output rows.
        out_h: usize,
        /// Output columns.
        out_w: usize,
    },
    /// Average over all positions: `C×H×W` becomes `C`.
    GlobalAvgPool,
    /// `C×H×W` becomes `C·H·W` features, channel-major.
    Flatten,
    /// A fully connected layer (`Linear`, or `UnbiasedLinear` when `bias` is false).
    Linear {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Whether the layer adds a bias.
        bias: bool,
    },
    /// Dropout (active only while training).
    Dropout,
    /// A residual block begins (named after the block, `layer1.0`): its input is kept for the skip
    /// connection. Not a field of its own; no parameters.
    Fork,
    /// The block's shortcut begins (`layer1.0:shortcut`): the main path's output is put aside and
    /// the layers that follow, up to the [`LayerKindInfo::Add`], run on the block's input.
    Shortcut,
    /// The block ends (`layer1.0:add`): main path + shortcut (or + the block's input when the block
    /// has no shortcut layers), then a ReLU when `relu`.
    Add {
        /// Whether a ReLU follows the add.
        relu: bool,
    },
}

impl LayerKindInfo {
    /// Whether the entry marks the structure of a residual block rather than a layer.
    ///
    /// ```
    /// use fasterai_runtime::model::LayerKindInfo;
    /// assert!(LayerKindInfo::Fork.is_residual_marker());
    /// assert!(!LayerKindInfo::Flatten.is_residual_marker());
    /// ```
    pub const fn is_residual_marker(&self) -> bool {
        matches!(self, LayerKindInfo::Fork | LayerKindInfo::Shortcut | LayerKindInfo::Add { .. })
    }
}

/// One field of a derived model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LayerInfo {
    /// The field's name, which is also the prefix of its tensors in a safetensors file.
    pub name: &'static str,
    /// What the layer is.
    pub kind: LayerKindInfo,
    /// The shape it receives.
    pub input: ShapeInfo,
    /// The shape it produces.
    pub output: ShapeInfo,
    /// Trainable parameters (BatchNorm running statistics are buffers and not counted).
    pub params: usize,
    /// Multiply-accumulates per sample (convolutions and linear layers; 0 for the others).
    pub macs: usize,
    /// Whether the field carries `#[tap]`, i.e. its activation is returned by `forward_with_taps`.
    pub tapped: bool,
}

impl LayerInfo {
    /// A layer between two vectors (`input` → `output` features), untapped, whose multiply-adds
    /// equal its parameters (a linear layer's, up to the bias): a short way to describe a plain
    /// MLP by hand when implementing [`Compressible`] without the derive.
    ///
    /// ```
    /// use fasterai_runtime::model::{LayerInfo, LayerKindInfo};
    /// let fc = LayerInfo::flat("fc", LayerKindInfo::Linear { in_features: 4, out_features: 2, bias: true }, 4, 2, 10);
    /// assert_eq!((fc.params, fc.macs, fc.output.numel()), (10, 10, 2));
    /// ```
    pub const fn flat(name: &'static str, kind: LayerKindInfo, input: usize, output: usize, params: usize) -> Self {
        Self {
            name,
            kind,
            input: ShapeInfo::Flat { n: input },
            output: ShapeInfo::Flat { n: output },
            params,
            macs: params,
            tapped: false,
        }
    }
}

/// What must change together when the outputs of one layer are pruned.
///
/// Removing output `k` of `producer` removes entry `k` of `batch_norm` (if any) and the inputs
/// `k·group .. (k+1)·group` of `consumer`: one input channel of a convolution (`group` = 1), or the
/// `H×W` columns of the first `Linear` after a `Flatten` that came from that channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Coupling {
    /// The convolution or linear layer whose outputs are pruned.
    pub producer: &'static str,
    /// The batch normalisation that follows it directly, if any.
    pub batch_norm: Option<&'static str>,
    /// The layer whose inputs shrink with it.
    pub consumer: &'static str,
    /// How many consecutive consumer inputs belong to one producer output.
    pub group: usize,
}

/// A set of channels that pruning must keep or remove as one, with every layer bound to it: what
/// torch-pruning's DepGraph finds by tracing, computed here by `#[derive(Compressible)]` from the
/// layer list. A chain gives one group per conv or linear layer; a residual add joins the channels
/// of its two sides, so a stage of a ResNet (its stem or first block's shortcut, and every block's
/// last conv) is one group with several producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelGroup {
    /// The convolution or linear layers that write these channels (several across skips).
    pub producers: &'static [&'static str],
    /// The BatchNorms that normalise them.
    pub batch_norms: &'static [&'static str],
    /// The layers that read them, each with the inputs one channel spans (`H×W` for the first
    /// `Linear` after a `Flatten`, else 1).
    pub consumers: &'static [(&'static str, usize)],
    /// How many channels.
    pub channels: usize,
    /// False for the model's outputs (the classes) and for channels added to the model's input.
    pub prunable: bool,
}

/// Where a layer's tensors live in a PyTorch `state_dict`: `conv1` of a model written as
/// torchvision's VGG is `features.0`, so its weight loads from `features.0.weight`.
///
/// ```
/// use fasterai_runtime::model::TorchName;
/// let name = TorchName { layer: "layer1.0.downsample", torch: "layer1.0.downsample.0" };
/// assert_eq!(name.torch_key("layer1.0.downsample.weight").as_deref(), Some("layer1.0.downsample.0.weight"));
/// assert_eq!(name.torch_key("layer1.0.downsample_bn.weight"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TorchName {
    /// The layer's name in [`Compressible::LAYERS`] (also its tensors' prefix in our own files).
    pub layer: &'static str,
    /// The prefix of its tensors in the PyTorch `state_dict`.
    pub torch: &'static str,
}

impl TorchName {
    /// The PyTorch key of our tensor `ours` (`conv1.weight` → `features.0.weight`), or `None` when
    /// `ours` is not a tensor of this layer.
    pub fn torch_key(&self, ours: &str) -> Option<String> {
        let tensor = ours.strip_prefix(self.layer)?.strip_prefix('.')?;
        Some(format!("{}.{tensor}", self.torch))
    }
}

/// A model whose structure is known at compile time. Implemented by `#[derive(Compressible)]`.
///
/// ```
/// use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
///
/// struct Tiny;
/// impl Compressible for Tiny {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 4 };
///     const LAYERS: &'static [LayerInfo] = &[LayerInfo {
///         name: "fc",
///         kind: LayerKindInfo::Linear { in_features: 4, out_features: 2, bias: true },
///         input: ShapeInfo::Flat { n: 4 },
///         output: ShapeInfo::Flat { n: 2 },
///         params: 10,
///         macs: 8,
///         tapped: false,
///     }];
///     const COUPLINGS: &'static [Coupling] = &[];
/// }
/// assert_eq!(Tiny::num_params(), 10);
/// assert_eq!(Tiny::num_macs(), 8);
/// assert_eq!(Tiny::output(), ShapeInfo::Flat { n: 2 });
/// assert!(Tiny::layer("fc").is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a fasterai model: it does not derive `Compressible`",
    label = "not a `#[derive(Compressible)]` struct",
    note = "add `#[derive(Compressible)]` and `#[compressible(input = [C, H, W])]` to the struct `{Self}`; \
            `compress!` names a model by its name in scope or by path (`models::Net`)"
)]
pub trait Compressible {
    /// The shape of one input sample.
    const INPUT: ShapeInfo;
    /// Every field, in forward order.
    const LAYERS: &'static [LayerInfo];
    /// One entry per layer whose outputs can be pruned on their own (every convolution and linear
    /// layer but the classifier, and, in a residual network, but those whose channels cross a skip).
    const COUPLINGS: &'static [Coupling];
    /// The channel groups, in the order of their first producer ([`ChannelGroup`]). Empty by default
    /// for descriptions written by hand; the derive lists every group.
    const CHANNEL_GROUPS: &'static [ChannelGroup] = &[];
    /// The prefix PyTorch's `state_dict` gives each layer's tensors, for every layer with tensors
    /// (see [`crate::model::load_torch`]). The derive lists them all, from the field names and
    /// `#[torch = ".."]`; a layer left out (and every layer, by default) keeps its own name.
    const TORCH_NAMES: &'static [TorchName] = &[];

    /// Total trainable parameters, the sum over [`Self::LAYERS`].
    fn num_params() -> usize {
        Self::LAYERS.iter().map(|layer| layer.params).sum()
    }

    /// Multiply-accumulates per sample, the sum over [`Self::LAYERS`].
    fn num_macs() -> usize {
        Self::LAYERS.iter().map(|layer| layer.macs).sum()
    }

    /// The shape of one output sample.
    fn output() -> ShapeInfo {
        Self::LAYERS.last().map_or(Self::INPUT, |layer| layer.output)
    }

    /// The layer with this field name.
    fn layer(name: &str) -> Option<&'static LayerInfo> {
        Self::LAYERS.iter().find(|layer| layer.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_display_and_size() {
        let map = ShapeInfo::Chw { c: 64, h: 7, w: 7 };
        assert_eq!(map.to_string(), "64×7×7");
        assert_eq!(map.numel(), 3136);
        assert_eq!(map.channels(), 64);
        assert_eq!(ShapeInfo::Flat { n: 10 }.to_string(), "10");
    }

    #[test]
    fn description_serializes_to_json() {
        let coupling = Coupling { producer: "conv4", batch_norm: Some("bn4"), consumer: "fc1", group: 49 };
        let json = serde_json::to_string(&coupling).unwrap();
        assert_eq!(json, r#"{"producer":"conv4","batch_norm":"bn4","consumer":"fc1","group":49}"#);
    }
}
