//! Layer kinds with their literal parameters, their shape rule and their parameter count.

use std::fmt;

use super::shape::{window_output, Shape, WindowTooLarge};

/// Element-wise activations (dfdx's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    ReLU,
    GeLU,
    FastGeLU,
    AccurateGeLU,
    Sigmoid,
    Tanh,
}

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::ReLU,
        Activation::GeLU,
        Activation::FastGeLU,
        Activation::AccurateGeLU,
        Activation::Sigmoid,
        Activation::Tanh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::ReLU => "ReLU",
            Activation::GeLU => "GeLU",
            Activation::FastGeLU => "FastGeLU",
            Activation::AccurateGeLU => "AccurateGeLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
        }
    }
}

/// A pooling window: square kernel, stride, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// What a field is, with the literal sizes of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Conv2D { in_channels: usize, out_channels: usize, kernel: usize, stride: usize, padding: usize, bias: bool },
    BatchNorm2D { channels: usize },
    BatchNorm1D { features: usize },
    Activation(Activation),
    MaxPool2D(Window),
    AvgPool2D(Window),
    AdaptiveAvgPool2D { out_h: usize, out_w: usize },
    GlobalAvgPool,
    Flatten,
    Linear { in_features: usize, out_features: usize, bias: bool },
    Dropout,
    /// A residual block begins: its input is kept for the skip connection (not a field: the derive
    /// writes it where a `#[block]` field's block starts).
    Fork,
    /// The block's shortcut begins: the main path's output is put aside and the `#[shortcut]` fields
    /// run on the kept input.
    Shortcut,
    /// The block ends: main path + shortcut (or + the kept input when the block has no shortcut
    /// fields), then a ReLU when `relu`.
    Add { relu: bool },
}

/// Where the channels a layer receives come from, for messages: the model's input, or the last
/// convolution or linear layer, which set the channel count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Input,
    Layer(String),
    /// The add that ends a residual block.
    Block(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Input => f.write_str("the input"),
            Source::Layer(name) => write!(f, "`{name}`"),
            Source::Block(name) => write!(f, "residual block `{name}`"),
        }
    }
}

/// `1 channel`, `3 channels`.
fn count(n: usize, unit: &str) -> String {
    if n == 1 {
        format!("{n} {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Which part of the layer's type a mistake is about: a generic argument by position, or the
/// whole type (for mistakes of placement, such as a `Linear` before `Flatten`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Arg(usize),
    Type,
}

/// Why a layer does not accept the shape it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// A convolution's declared input channels differ from the channels it receives.
    InputChannels { layer: &'static str, declared: usize, received: Shape, from: Source },
    /// A BatchNorm's size differs from the channels or features it receives.
    BatchNormSize { layer: &'static str, declared: usize, received: Shape, from: Source },
    /// A Linear's declared inputs differ from the features it receives; `flattened_from` is set
    /// when those features come from a `Flatten` of that feature map.
    LinearInput { layer: &'static str, declared: usize, received: usize, flattened_from: Option<(usize, usize, usize)> },
    /// A layer that needs flat features receives a feature map.
    NeedsFlat { layer: &'static str, received: Shape },
    /// A layer that needs a feature map receives flat features.
    NeedsMap { layer: &'static str, received: Shape },
    /// A size that must be at least 1 is 0.
    Zero { layer: &'static str, what: &'static str, arg: usize },
    /// A pool pads more than half its window (PyTorch's rule, which the runtime's pools follow).
    PoolPadding { layer: &'static str, kernel: usize, padding: usize },
    /// A kernel or pooling window leaves no output position along `axis`.
    WindowTooLarge { layer: &'static str, axis: &'static str, window: WindowTooLarge, received: Shape, kernel_arg: usize },
    /// A residual block's main path and shortcut give different shapes, so they cannot be added.
    ResidualMismatch(Box<ResidualMismatch>),
}

/// Both sides of a residual add that disagree, for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidualMismatch {
    /// The block (`layer2.0`).
    pub block: String,
    /// The block's input, which an identity skip adds as it is.
    pub input: Shape,
    /// The main path's output and the field that ends it.
    pub main: Shape,
    pub main_from: String,
    /// The shortcut's output and its last field; `None` for the identity skip.
    pub shortcut: Shape,
    pub shortcut_from: Option<String>,
}

impl ShapeError {
    /// The part of the type the message points at.
    pub fn blame(&self) -> Blame {
        match self {
            ShapeError::InputChannels { .. } | ShapeError::BatchNormSize { .. } | ShapeError::LinearInput { .. } => {
                Blame::Arg(0)
            }
            ShapeError::Zero { arg, .. } => Blame::Arg(*arg),
            ShapeError::PoolPadding { .. } => Blame::Arg(2),
            ShapeError::WindowTooLarge { kernel_arg, .. } => Blame::Arg(*kernel_arg),
            ShapeError::NeedsFlat { .. } | ShapeError::NeedsMap { .. } | ShapeError::ResidualMismatch(_) => Blame::Type,
        }
    }
}

impl ShapeError {
    /// Names where the received channels come from (the walk over the model knows it).
    pub fn set_source(&mut self, source: Source) {
        if let ShapeError::InputChannels { from, .. } | ShapeError::BatchNormSize { from, .. } = self {
            *from = source;
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::InputChannels { layer, declared, received, from } => match received {
                Shape::Chw { c, .. } => write!(
                    f,
                    "`{layer}` takes {} but {from} gives {c} (a {received}); change the first \
                     parameter to {c}",
                    count(*declared, "input channel"),
                ),
                Shape::Flat { .. } => write!(f, "`{layer}` takes {} but receives {received}", count(*declared, "input channel")),
            },
            ShapeError::BatchNormSize { layer, declared, received, from } => {
                let (unit, size) = match received {
                    Shape::Chw { c, .. } => ("channel", *c),
                    Shape::Flat { n } => ("feature", *n),
                };
                write!(
                    f,
                    "`{layer}` normalises {} but {from} gives {size} (a {received}); change it to \
                     `{layer}<{size}>`",
                    count(*declared, unit),
                )
            }
            ShapeError::LinearInput { layer, declared, received, flattened_from } => {
                write!(f, "`{layer}` takes {declared} inputs but receives {received}")?;
                if let Some((c, h, w)) = flattened_from {
                    write!(f, ": `Flatten` turns the {c}×{h}×{w} feature map into {c} × {h} × {w} = {received}")?;
                }
                write!(f, "; change the first parameter to {received}")
            }
            ShapeError::NeedsFlat { layer, received } => write!(
                f,
                "`{layer}` needs flat features but receives a {received}; add a `Flatten` field \
                 (or a `GlobalAvgPool`) before it"
            ),
            ShapeError::NeedsMap { layer, received } => {
                write!(f, "`{layer}` needs a C×H×W feature map but receives {received}")
            }
            ShapeError::Zero { layer, what, .. } => write!(f, "the {what} of `{layer}` must be at least 1"),
            ShapeError::PoolPadding { layer, kernel, padding } => write!(
                f,
                "`{layer}` pads {padding} on each side but a window of {kernel} allows at most {}",
                kernel / 2
            ),
            ShapeError::WindowTooLarge { layer, axis, window, received, .. } => write!(
                f,
                "`{layer}` shrinks the {axis} of the {received} it receives to zero: {window}; use \
                 a smaller kernel, more padding or a larger input"
            ),
            ShapeError::ResidualMismatch(mismatch) => mismatch.fmt(f),
        }
    }
}

impl fmt::Display for ResidualMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ResidualMismatch { block, input, main, main_from, shortcut, shortcut_from } = self;
        write!(f, "residual block `{block}` adds two different shapes: its main path gives a {main} (after `{main_from}`) but ")?;
        match shortcut_from {
            Some(last) => write!(f, "its shortcut gives a {shortcut} (after `{last}`)")?,
            None => write!(f, "its skip passes its input, a {shortcut}, unchanged")?,
        }
        let (Shape::Chw { c: in_c, h: in_h, w: in_w }, Shape::Chw { c, h, w }) = (*input, *main) else {
            return write!(f, "; both sides of a residual add must have the same shape");
        };
        // The 1×1 shortcut conv that maps the input to the main path's output, when a stride does.
        let stride = (1..=in_h.max(1)).find(|s| (in_h - 1) / s + 1 == h && (in_w - 1) / s + 1 == w);
        match (shortcut_from, stride) {
            (None, Some(s)) => write!(
                f,
                "; give the block a shortcut from {in_c}×{in_h}×{in_w} to {c}×{h}×{w}: \
                 `#[shortcut] downsample: UnbiasedConv2D<{in_c}, {c}, 1, {s}>` and `#[shortcut] downsample_bn: BatchNorm2D<{c}>`"
            ),
            (Some(_), Some(s)) => write!(
                f,
                "; the shortcut must map {in_c}×{in_h}×{in_w} to {c}×{h}×{w}, as a 1×1 conv `UnbiasedConv2D<{in_c}, {c}, 1, {s}>` does"
            ),
            (_, None) => write!(f, "; both sides of a residual add must have the same shape"),
        }
    }
}

impl LayerKind {
    /// The type name the user writes.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2D { bias: true, .. } => "Conv2D",
            LayerKind::Conv2D { bias: false, .. } => "UnbiasedConv2D",
            LayerKind::BatchNorm2D { .. } => "BatchNorm2D",
            LayerKind::BatchNorm1D { .. } => "BatchNorm1D",
            LayerKind::Activation(a) => a.name(),
            LayerKind::MaxPool2D(_) => "MaxPool2D",
            LayerKind::AvgPool2D(_) => "AvgPool2D",
            LayerKind::AdaptiveAvgPool2D { .. } => "AdaptiveAvgPool2D",
            LayerKind::GlobalAvgPool => "GlobalAvgPool",
            LayerKind::Flatten => "Flatten",
            LayerKind::Linear { bias: true, .. } => "Linear",
            LayerKind::Linear { bias: false, .. } => "UnbiasedLinear",
            LayerKind::Dropout => "Dropout",
            LayerKind::Fork => "residual block",
            LayerKind::Shortcut => "shortcut",
            LayerKind::Add { .. } => "residual add",
        }
    }

    /// Whether the entry marks the structure of a residual block rather than a field's layer.
    pub fn is_residual_marker(&self) -> bool {
        matches!(self, LayerKind::Fork | LayerKind::Shortcut | LayerKind::Add { .. })
    }

    /// Trainable parameters. BatchNorm counts γ and β; its running mean and variance are buffers.
    pub fn params(&self) -> usize {
        match *self {
            LayerKind::Conv2D { in_channels, out_channels, kernel, bias, .. } => {
                out_channels * in_channels * kernel * kernel + if bias { out_channels } else { 0 }
            }
            LayerKind::BatchNorm2D { channels } => 2 * channels,
            LayerKind::BatchNorm1D { features } => 2 * features,
            LayerKind::Linear { in_features, out_features, bias } => {
                in_features * out_features + if bias { out_features } else { 0 }
            }
            _ => 0,
        }
    }

    /// Multiply-accumulates per sample of the convolutions and linear layers (the figure the
    /// measuring tools and the literature quote; BatchNorm, activations and pools are not counted).
    pub fn macs(&self, output: Shape) -> usize {
        match *self {
            LayerKind::Conv2D { in_channels, kernel, .. } => output.numel() * in_channels * kernel * kernel,
            LayerKind::Linear { in_features, out_features, .. } => in_features * out_features,
            _ => 0,
        }
    }

    /// Whether the layer has weights (and so takes part in dfdx's tensor visiting).
    pub fn has_tensors(&self) -> bool {
        matches!(
            self,
            LayerKind::Conv2D { .. } | LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. } | LayerKind::Linear { .. }
        )
    }

    /// Whether the layer's outputs can be pruned (if something downstream consumes them).
    pub fn is_producer(&self) -> bool {
        matches!(self, LayerKind::Conv2D { .. } | LayerKind::Linear { .. })
    }

    /// Whether channel `k` in is channel `k` out (activations, pools, BatchNorm, Dropout).
    pub fn keeps_channels(&self) -> bool {
        matches!(
            self,
            LayerKind::BatchNorm2D { .. }
                | LayerKind::BatchNorm1D { .. }
                | LayerKind::Activation(_)
                | LayerKind::MaxPool2D(_)
                | LayerKind::AvgPool2D(_)
                | LayerKind::AdaptiveAvgPool2D { .. }
                | LayerKind::GlobalAvgPool
                | LayerKind::Dropout
        )
    }

    /// Whether the layer behaves differently while training (needs `forward_mut` with a tape).
    pub fn trains_differently(&self) -> bool {
        matches!(self, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. } | LayerKind::Dropout)
    }

    /// Zero sizes in the layer's own parameters, independent of the input.
    fn check_sizes(&self) -> Result<(), ShapeError> {
        let layer = self.type_name();
        let sizes: &[(usize, &'static str, usize)] = match self {
            LayerKind::Conv2D { in_channels, out_channels, kernel, stride, .. } => &[
                (*in_channels, "input channel count", 0),
                (*out_channels, "output channel count", 1),
                (*kernel, "kernel size", 2),
                (*stride, "stride", 3),
            ],
            LayerKind::BatchNorm2D { channels } => &[(*channels, "channel count", 0)],
            LayerKind::BatchNorm1D { features } => &[(*features, "feature count", 0)],
            LayerKind::MaxPool2D(w) | LayerKind::AvgPool2D(w) => {
                &[(w.kernel, "kernel size", 0), (w.stride, "stride", 1)]
            }
            LayerKind::AdaptiveAvgPool2D { out_h, out_w } => &[(*out_h, "output height", 0), (*out_w, "output width", 1)],
            LayerKind::Linear { in_features, out_features, .. } => {
                &[(*in_features, "input count", 0), (*out_features, "output count", 1)]
            }
            _ => &[],
        };
        if let Some(&(_, what, arg)) = sizes.iter().find(|(value, _, _)| *value == 0) {
            return Err(ShapeError::Zero { layer, what, arg });
        }
        match self {
            LayerKind::MaxPool2D(w) | LayerKind::AvgPool2D(w) if w.padding > w.kernel / 2 => {
                Err(ShapeError::PoolPadding { layer, kernel: w.kernel, padding: w.padding })
            }
            _ => Ok(()),
        }
    }

    /// The shape this layer produces from `input`, or why it cannot take `input`.
    pub fn output(&self, input: Shape) -> Result<Shape, ShapeError> {
        self.check_sizes()?;
        let layer = self.type_name();
        let map = |input: Shape| match input {
            Shape::Chw { c, h, w } => Ok((c, h, w)),
            Shape::Flat { .. } => Err(ShapeError::NeedsMap { layer, received: input }),
        };
        let slide = |input: Shape, h: usize, w: usize, kernel: usize, stride: usize, padding: usize, kernel_arg: usize| {
            let along = |axis: &'static str, size: usize| {
                window_output(size, kernel, stride, padding)
                    .map_err(|window| ShapeError::WindowTooLarge { layer, axis, window, received: input, kernel_arg })
            };
            Ok::<_, ShapeError>((along("height", h)?, along("width", w)?))
        };
        match *self {
            LayerKind::Conv2D { in_channels, out_channels, kernel, stride, padding, .. } => {
                let (c, h, w) = map(input)?;
                if c != in_channels {
                    return Err(ShapeError::InputChannels { layer, declared: in_channels, received: input, from: Source::Input });
                }
                let (h, w) = slide(input, h, w, kernel, stride, padding, 2)?;
                Ok(Shape::Chw { c: out_channels, h, w })
            }
            LayerKind::BatchNorm2D { channels } => {
                let (c, _, _) = map(input)?;
                if c != channels {
                    return Err(ShapeError::BatchNormSize { layer, declared: channels, received: input, from: Source::Input });
                }
                Ok(input)
            }
            LayerKind::BatchNorm1D { features } => match input {
                Shape::Flat { n } if n == features => Ok(input),
                Shape::Flat { .. } => Err(ShapeError::BatchNormSize { layer, declared: features, received: input, from: Source::Input }),
                Shape::Chw { .. } => Err(ShapeError::NeedsFlat { layer, received: input }),
            },
            LayerKind::Activation(_) | LayerKind::Dropout | LayerKind::Fork | LayerKind::Shortcut | LayerKind::Add { .. } => {
                Ok(input)
            }
            LayerKind::MaxPool2D(win) | LayerKind::AvgPool2D(win) => {
                let (c, h, w) = map(input)?;
                let (h, w) = slide(input, h, w, win.kernel, win.stride, win.padding, 0)?;
                Ok(Shape::Chw { c, h, w })
            }
            LayerKind::AdaptiveAvgPool2D { out_h, out_w } => {
                let (c, _, _) = map(input)?;
                Ok(Shape::Chw { c, h: out_h, w: out_w })
            }
            LayerKind::GlobalAvgPool => {
                let (c, _, _) = map(input)?;
                Ok(Shape::Flat { n: c })
            }
            LayerKind::Flatten => {
                map(input)?;
                Ok(Shape::Flat { n: input.numel() })
            }
            LayerKind::Linear { in_features, out_features, .. } => match input {
                Shape::Flat { n } if n == in_features => Ok(Shape::Flat { n: out_features }),
                Shape::Flat { n } => {
                    Err(ShapeError::LinearInput { layer, declared: in_features, received: n, flattened_from: None })
                }
                Shape::Chw { .. } => Err(ShapeError::NeedsFlat { layer, received: input }),
            },
        }
    }

    /// The shape to resume from after this layer rejected `input`, so that one mistake gives one
    /// error: what a layer that sets its own width (convolution, linear) declares it produces, and
    /// the received shape for a BatchNorm of the wrong size (it changes no shape, so the mistake is
    /// its own). `None` when it cannot be known: later layers are then not checked until a shape
    /// is known again.
    pub fn claimed_output(&self, input: Shape) -> Option<Shape> {
        let spatial = match input {
            Shape::Chw { h, w, .. } => Some((h, w)),
            Shape::Flat { .. } => None,
        };
        match *self {
            LayerKind::Conv2D { in_channels, .. } => {
                let (h, w) = spatial?;
                self.output(Shape::Chw { c: in_channels, h, w }).ok()
            }
            LayerKind::BatchNorm2D { .. } => spatial.map(|_| input),
            LayerKind::BatchNorm1D { .. } => match input {
                Shape::Flat { .. } => Some(input),
                Shape::Chw { .. } => None,
            },
            LayerKind::Linear { out_features, .. } => Some(Shape::Flat { n: out_features }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(i: usize, o: usize, k: usize, s: usize, p: usize) -> LayerKind {
        LayerKind::Conv2D { in_channels: i, out_channels: o, kernel: k, stride: s, padding: p, bias: true }
    }
    const MAP: Shape = Shape::Chw { c: 32, h: 28, w: 28 };

    #[test]
    fn conv_output_shapes() {
        assert_eq!(conv(32, 64, 3, 1, 1).output(MAP), Ok(Shape::Chw { c: 64, h: 28, w: 28 }));
        assert_eq!(conv(32, 64, 3, 2, 0).output(MAP), Ok(Shape::Chw { c: 64, h: 13, w: 13 }));
        let wide = Shape::Chw { c: 3, h: 10, w: 20 };
        assert_eq!(conv(3, 8, 5, 1, 0).output(wide), Ok(Shape::Chw { c: 8, h: 6, w: 16 }));
    }

    #[test]
    fn conv_rejects_wrong_channels_and_says_both_numbers() {
        let err = conv(16, 64, 3, 1, 1).output(MAP).unwrap_err();
        assert_eq!(err, ShapeError::InputChannels { layer: "Conv2D", declared: 16, received: MAP, from: Source::Input });
        assert_eq!(
            err.to_string(),
            "`Conv2D` takes 16 input channels but the input gives 32 (a 32×28×28 feature map); change the first parameter to 32"
        );
        let mut one = conv(1, 8, 3, 1, 1).output(MAP).unwrap_err();
        one.set_source(Source::Layer("conv1".into()));
        assert!(one.to_string().starts_with("`Conv2D` takes 1 input channel but `conv1` gives 32"), "{one}");
        assert_eq!(err.blame(), Blame::Arg(0));
    }

    #[test]
    fn conv_rejects_a_kernel_larger_than_the_padded_input() {
        let tiny = Shape::Chw { c: 32, h: 2, w: 5 };
        let err = conv(32, 8, 3, 1, 0).output(tiny).unwrap_err();
        assert!(matches!(err, ShapeError::WindowTooLarge { axis: "height", kernel_arg: 2, .. }), "{err:?}");
        assert_eq!(err.blame(), Blame::Arg(2));
    }

    #[test]
    fn zero_sizes_are_rejected_before_shapes() {
        let err = conv(32, 0, 3, 1, 1).output(MAP).unwrap_err();
        assert_eq!(err, ShapeError::Zero { layer: "Conv2D", what: "output channel count", arg: 1 });
        let pool = LayerKind::MaxPool2D(Window { kernel: 2, stride: 0, padding: 0 });
        assert_eq!(pool.output(MAP).unwrap_err().blame(), Blame::Arg(1));
    }

    #[test]
    fn pools_pad_at_most_half_their_window() {
        let ok = LayerKind::AvgPool2D(Window { kernel: 3, stride: 1, padding: 1 });
        assert!(ok.output(MAP).is_ok());
        let err = LayerKind::MaxPool2D(Window { kernel: 3, stride: 1, padding: 2 }).output(MAP).unwrap_err();
        assert_eq!(err, ShapeError::PoolPadding { layer: "MaxPool2D", kernel: 3, padding: 2 });
        assert_eq!(err.to_string(), "`MaxPool2D` pads 2 on each side but a window of 3 allows at most 1");
        assert_eq!(err.blame(), Blame::Arg(2));
    }

    #[test]
    fn pools_keep_channels_and_slide() {
        let max = LayerKind::MaxPool2D(Window { kernel: 2, stride: 2, padding: 0 });
        assert_eq!(max.output(MAP), Ok(Shape::Chw { c: 32, h: 14, w: 14 }));
        let avg = LayerKind::AvgPool2D(Window { kernel: 3, stride: 1, padding: 1 });
        assert_eq!(avg.output(MAP), Ok(MAP));
        let adaptive = LayerKind::AdaptiveAvgPool2D { out_h: 7, out_w: 7 };
        assert_eq!(adaptive.output(MAP), Ok(Shape::Chw { c: 32, h: 7, w: 7 }));
        assert_eq!(LayerKind::GlobalAvgPool.output(MAP), Ok(Shape::Flat { n: 32 }));
        assert!(matches!(max.output(Shape::Flat { n: 4 }), Err(ShapeError::NeedsMap { .. })));
    }

    #[test]
    fn flatten_and_linear() {
        let flat = LayerKind::Flatten.output(Shape::Chw { c: 64, h: 7, w: 7 }).unwrap();
        assert_eq!(flat, Shape::Flat { n: 3136 });
        let fc = LayerKind::Linear { in_features: 3136, out_features: 256, bias: true };
        assert_eq!(fc.output(flat), Ok(Shape::Flat { n: 256 }));
        let wrong = LayerKind::Linear { in_features: 3000, out_features: 256, bias: true };
        assert_eq!(
            wrong.output(flat),
            Err(ShapeError::LinearInput { layer: "Linear", declared: 3000, received: 3136, flattened_from: None })
        );
        assert!(matches!(fc.output(MAP), Err(ShapeError::NeedsFlat { layer: "Linear", .. })));
        assert!(matches!(LayerKind::Flatten.output(flat), Err(ShapeError::NeedsMap { .. })));
    }

    #[test]
    fn linear_message_explains_the_flattened_size() {
        let err = ShapeError::LinearInput { layer: "Linear", declared: 3000, received: 3136, flattened_from: Some((64, 7, 7)) };
        assert_eq!(
            err.to_string(),
            "`Linear` takes 3000 inputs but receives 3136: `Flatten` turns the 64×7×7 feature map into \
             64 × 7 × 7 = 3136; change the first parameter to 3136"
        );
    }

    #[test]
    fn batch_norms_check_their_size() {
        assert_eq!(LayerKind::BatchNorm2D { channels: 32 }.output(MAP), Ok(MAP));
        let err = LayerKind::BatchNorm2D { channels: 64 }.output(MAP).unwrap_err();
        assert!(err.to_string().contains("normalises 64 channels but the input gives 32"), "{err}");
        let flat = Shape::Flat { n: 256 };
        assert_eq!(LayerKind::BatchNorm1D { features: 256 }.output(flat), Ok(flat));
        assert!(LayerKind::BatchNorm1D { features: 128 }.output(flat).is_err());
    }

    #[test]
    fn parameter_counts() {
        assert_eq!(conv(1, 32, 3, 1, 1).params(), 32 * 9 + 32);
        let unbiased = LayerKind::Conv2D { in_channels: 1, out_channels: 32, kernel: 3, stride: 1, padding: 1, bias: false };
        assert_eq!(unbiased.params(), 32 * 9);
        assert_eq!(LayerKind::BatchNorm2D { channels: 32 }.params(), 64);
        assert_eq!(LayerKind::Linear { in_features: 256, out_features: 10, bias: true }.params(), 2570);
        assert_eq!(LayerKind::Linear { in_features: 256, out_features: 10, bias: false }.params(), 2560);
        assert_eq!(LayerKind::Activation(Activation::ReLU).params(), 0);
        assert_eq!(LayerKind::Flatten.params(), 0);
    }

    #[test]
    fn multiply_accumulates() {
        // every one of the 32×28×28 outputs sums 32·3·3 products
        assert_eq!(conv(32, 32, 3, 1, 1).macs(MAP), 32 * 28 * 28 * 32 * 9);
        assert_eq!(LayerKind::Linear { in_features: 3136, out_features: 256, bias: true }.macs(Shape::Flat { n: 256 }), 802_816);
        assert_eq!(LayerKind::BatchNorm2D { channels: 32 }.macs(MAP), 0);
    }

    #[test]
    fn claimed_outputs_resume_from_the_declared_shape() {
        // A conv declared for 16 channels that receives 32 continues as if it got 16.
        assert_eq!(conv(16, 64, 3, 1, 1).claimed_output(MAP), Some(Shape::Chw { c: 64, h: 28, w: 28 }));
        // A BatchNorm of the wrong size is its own mistake: continue with what it received.
        assert_eq!(LayerKind::BatchNorm2D { channels: 8 }.claimed_output(MAP), Some(MAP));
        assert_eq!(
            LayerKind::Linear { in_features: 5, out_features: 3, bias: true }.claimed_output(MAP),
            Some(Shape::Flat { n: 3 })
        );
        // A pool on flat features: nothing sensible follows.
        assert_eq!(LayerKind::MaxPool2D(Window { kernel: 2, stride: 2, padding: 0 }).claimed_output(Shape::Flat { n: 3 }), None);
    }
}
