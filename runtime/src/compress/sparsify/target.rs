//! Which layers of a derived model a sparsifier works on, read from [`Compressible::LAYERS`] and
//! [`Compressible::COUPLINGS`], with each layer's weight shape, bias, BatchNorm and target.
//!
//! Convolutions are chosen by default, linear layers on request; the classifier (the last linear
//! layer) never is, since zeroing its rows would silence classes. Every name is checked against the
//! model before anything runs, and an unknown one is an error listing the layers that can be chosen.
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{resolve_targets, ConvGranularity, Granularity, LayerChoice};
//! use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
//! use fasterai_runtime::units::Sparsity;
//!
//! struct Net;
//! impl Compressible for Net {
//!     const INPUT: ShapeInfo = ShapeInfo::Chw { c: 1, h: 4, w: 4 };
//!     const LAYERS: &'static [LayerInfo] = &[
//!         LayerInfo { name: "conv1", kind: LayerKindInfo::Conv2D { in_channels: 1, out_channels: 4, kernel: 3,
//!             stride: 1, padding: 1, bias: true }, input: ShapeInfo::Chw { c: 1, h: 4, w: 4 },
//!             output: ShapeInfo::Chw { c: 4, h: 4, w: 4 }, params: 40, macs: 576, tapped: false },
//!         LayerInfo { name: "flatten", kind: LayerKindInfo::Flatten, input: ShapeInfo::Chw { c: 4, h: 4, w: 4 },
//!             output: ShapeInfo::Flat { n: 64 }, params: 0, macs: 0, tapped: false },
//!         LayerInfo { name: "fc", kind: LayerKindInfo::Linear { in_features: 64, out_features: 2, bias: true },
//!             input: ShapeInfo::Flat { n: 64 }, output: ShapeInfo::Flat { n: 2 }, params: 130, macs: 128, tapped: false },
//!     ];
//!     const COUPLINGS: &'static [Coupling] = &[Coupling { producer: "conv1", batch_norm: None, consumer: "fc", group: 16 }];
//! }
//! let half = Sparsity::from_percent(50.0).unwrap();
//! let filter = Granularity::Conv(ConvGranularity::Filter);
//! let targets = resolve_targets::<Net>(&LayerChoice::Convolutions, &[], half, filter, None).unwrap();
//! assert_eq!(targets[0].shape, vec![4, 1, 3, 3]);
//! let error = resolve_targets::<Net>(&LayerChoice::named(["conv9"]), &[], half, filter, None).unwrap_err();
//! assert!(error.to_string().contains("sparsifiable layers: conv1"), "{error}");
//! ```

use std::collections::HashSet;

use super::granularity::{ConvGranularity, Granularity, LinearGranularity};
use super::mask::NmPattern;
use crate::compress::CompressError;
use crate::model::{Compressible, LayerInfo, LayerKindInfo};
use crate::units::Sparsity;

/// Which layers to sparsify.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LayerChoice {
    /// Every convolution (fasterai's default `layer_type = Conv2d`).
    #[default]
    Convolutions,
    /// Every convolution and every linear layer but the classifier.
    ConvolutionsAndLinear,
    /// Exactly these layers (field names), each a convolution or a linear layer other than the classifier.
    Named(Vec<String>),
}

impl LayerChoice {
    /// [`LayerChoice::Named`] from any list of names.
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Named(names.into_iter().map(Into::into).collect())
    }
}

/// What kind of weight a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A convolution, weight `(out, in, k, k)`.
    Conv,
    /// A linear layer, weight `(out, in)`.
    Linear,
}

/// One layer a sparsifier works on, resolved against a model's description.
#[derive(Debug, Clone, PartialEq)]
pub struct SparsifyTarget {
    /// The layer's field name.
    pub name: &'static str,
    /// Convolution or linear.
    pub kind: TargetKind,
    /// The weight's shape: `[out, in, k, k]` or `[out, in]`.
    pub shape: Vec<usize>,
    /// Whether the layer has a bias.
    pub has_bias: bool,
    /// The BatchNorm right after it, with its kind, if any (from [`Compressible::COUPLINGS`]).
    pub batch_norm: Option<(&'static str, BnKind)>,
    /// This layer's final target sparsity.
    pub sparsity: Sparsity,
    /// The granularity used on this layer (the conv or linear counterpart of the one asked for).
    pub granularity: Granularity,
}

/// The two BatchNorm kinds, whose scale tensors are named differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnKind {
    /// Our `BatchNorm2D`: `weight` (γ) and `bias` (β).
    TwoD,
    /// dfdx's `BatchNorm1D`: `scale` (γ) and `bias` (β).
    OneD,
}

impl SparsifyTarget {
    /// The weight tensor's name (`conv1.weight`).
    pub fn weight_name(&self) -> String {
        format!("{}.weight", self.name)
    }

    /// The bias tensor's name, if the layer has a bias.
    pub fn bias_name(&self) -> Option<String> {
        self.has_bias.then(|| format!("{}.bias", self.name))
    }

    /// The names of the following BatchNorm's γ and β, if any.
    pub fn bn_names(&self) -> Option<(String, String)> {
        self.batch_norm.map(|(bn, kind)| {
            let scale = match kind {
                BnKind::TwoD => "weight",
                BnKind::OneD => "scale",
            };
            (format!("{bn}.{scale}"), format!("{bn}.bias"))
        })
    }

    /// Output channels (filters or neurons).
    pub fn width(&self) -> usize {
        self.shape[0]
    }

    /// Whether one group is a whole output channel, so dropping it also silences the bias entry
    /// and the BatchNorm channel after it.
    pub fn drops_whole_outputs(&self) -> bool {
        matches!(
            self.granularity,
            Granularity::Conv(ConvGranularity::Filter) | Granularity::Linear(LinearGranularity::Row)
        )
    }
}

/// The conv or linear counterpart of `granularity` for a layer of `kind`, if there is one:
/// filter ↔ row (one output), shared_kernel ↔ column (one input), weight ↔ weight, layer ↔ layer.
pub fn granularity_for(kind: TargetKind, granularity: Granularity) -> Option<Granularity> {
    use ConvGranularity as C;
    use LinearGranularity as L;
    match (kind, granularity) {
        (TargetKind::Conv, Granularity::Conv(_)) | (TargetKind::Linear, Granularity::Linear(_)) => Some(granularity),
        (TargetKind::Linear, Granularity::Conv(g)) => match g {
            C::Weight => Some(L::Weight),
            C::Filter => Some(L::Row),
            C::SharedKernel => Some(L::Column),
            C::Layer => Some(L::Layer),
            _ => None,
        }
        .map(Granularity::Linear),
        (TargetKind::Conv, Granularity::Linear(g)) => Some(Granularity::Conv(match g {
            L::Weight => C::Weight,
            L::Row => C::Filter,
            L::Column => C::SharedKernel,
            L::Layer => C::Layer,
        })),
    }
}

/// The classifier: the last linear layer of the model.
fn classifier<M: Compressible>() -> Option<&'static str> {
    M::LAYERS.iter().rev().find(|l| matches!(l.kind, LayerKindInfo::Linear { .. })).map(|l| l.name)
}

/// The layers that can be sparsified: convolutions and linear layers but the classifier, in model order.
pub fn sparsifiable_layers<M: Compressible>() -> Vec<&'static str> {
    let last = classifier::<M>();
    M::LAYERS
        .iter()
        .filter(|l| match l.kind {
            LayerKindInfo::Conv2D { .. } => true,
            LayerKindInfo::Linear { .. } => Some(l.name) != last,
            _ => false,
        })
        .map(|l| l.name)
        .collect()
}

fn unknown<M: Compressible>(name: &str, reason: &'static str) -> CompressError {
    CompressError::UnknownLayer { name: name.to_string(), reason, valid: sparsifiable_layers::<M>().join(", ") }
}

/// Checks that `name` is a sparsifiable layer of `M`.
fn check_name<M: Compressible>(name: &str) -> Result<(), CompressError> {
    let Some(layer) = M::layer(name) else {
        return Err(unknown::<M>(name, "the model has no such layer"));
    };
    if !matches!(layer.kind, LayerKindInfo::Conv2D { .. } | LayerKindInfo::Linear { .. }) {
        return Err(unknown::<M>(name, "it is neither a convolution nor a linear layer"));
    }
    if Some(name) == classifier::<M>() {
        return Err(unknown::<M>(name, "it is the classifier, whose outputs are the classes"));
    }
    Ok(())
}

fn target_of<M: Compressible>(
    layer: &LayerInfo,
    sparsity: Sparsity,
    granularity: Granularity,
) -> Result<SparsifyTarget, CompressError> {
    let (kind, shape, has_bias) = match layer.kind {
        LayerKindInfo::Conv2D { in_channels, out_channels, kernel, bias, .. } => {
            (TargetKind::Conv, vec![out_channels, in_channels, kernel, kernel], bias)
        }
        LayerKindInfo::Linear { in_features, out_features, bias } => {
            (TargetKind::Linear, vec![out_features, in_features], bias)
        }
        _ => return Err(unknown::<M>(layer.name, "it is neither a convolution nor a linear layer")),
    };
    let granularity = granularity_for(kind, granularity).ok_or(CompressError::GranularityKind {
        layer: layer.name.to_string(),
        granularity: granularity.name(),
        kind: if kind == TargetKind::Linear { "linear" } else { "conv" },
    })?;
    // The BatchNorm after the layer: its coupling's, or, for a layer writing a channel group
    // shared through skip connections (no coupling), the one right after it.
    let next = M::LAYERS.iter().position(|l| l.name == layer.name).and_then(|at| M::LAYERS.get(at + 1)).map(|l| l.name);
    let batch_norm = M::COUPLINGS
        .iter()
        .find(|c| c.producer == layer.name)
        .map_or(next, |c| c.batch_norm)
        .and_then(|bn| M::layer(bn))
        .and_then(|bn| match bn.kind {
            LayerKindInfo::BatchNorm2D { .. } => Some((bn.name, BnKind::TwoD)),
            LayerKindInfo::BatchNorm1D { .. } => Some((bn.name, BnKind::OneD)),
            _ => None,
        });
    Ok(SparsifyTarget { name: layer.name, kind, shape, has_bias, batch_norm, sparsity, granularity })
}

/// Resolves the layers a sparsifier works on, in model order, each with its target sparsity.
///
/// `per_layer` overrides the target of the layers it names and adds them to the choice (a linear
/// layer named there is sparsified even when `choice` is [`LayerChoice::Convolutions`]); every
/// other chosen layer gets `sparsity`. With an N:M pattern, every target's input channels must be
/// a multiple of M.
///
/// Errors (all before any training): a name the model does not have, a layer that is not a
/// convolution or a linear layer, the classifier, a name given twice, a granularity without a
/// counterpart for a chosen layer, N:M on a layer whose input channels do not divide into M.
pub fn resolve_targets<M: Compressible>(
    choice: &LayerChoice,
    per_layer: &[(String, Sparsity)],
    sparsity: Sparsity,
    granularity: Granularity,
    nm: Option<NmPattern>,
) -> Result<Vec<SparsifyTarget>, CompressError> {
    let mut seen = HashSet::new();
    for (name, _) in per_layer {
        check_name::<M>(name)?;
        if !seen.insert(name.as_str()) {
            return Err(unknown::<M>(name, "it is given twice in the per-layer targets"));
        }
    }
    let chosen: Vec<&str> = match choice {
        LayerChoice::Named(names) => {
            let mut seen = HashSet::new();
            for name in names {
                check_name::<M>(name)?;
                if !seen.insert(name.as_str()) {
                    return Err(unknown::<M>(name, "it is named twice"));
                }
            }
            names.iter().map(String::as_str).collect()
        }
        LayerChoice::Convolutions => {
            M::LAYERS.iter().filter(|l| matches!(l.kind, LayerKindInfo::Conv2D { .. })).map(|l| l.name).collect()
        }
        LayerChoice::ConvolutionsAndLinear => sparsifiable_layers::<M>(),
    };
    let mut targets = Vec::new();
    for layer in M::LAYERS {
        let own = per_layer.iter().find(|(n, _)| n == layer.name).map(|&(_, s)| s);
        if own.is_none() && !chosen.contains(&layer.name) {
            continue;
        }
        let target = target_of::<M>(layer, own.unwrap_or(sparsity), granularity)?;
        if let Some(pattern) = nm {
            let in_channels = target.shape[1];
            if in_channels % pattern.m != 0 {
                return Err(CompressError::NmIndivisible {
                    layer: target.name.to_string(),
                    in_channels,
                    n: pattern.n,
                    m: pattern.m,
                });
            }
        }
        targets.push(target);
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coupling, ShapeInfo};

    const fn conv(name: &'static str, i: usize, o: usize) -> LayerInfo {
        LayerInfo {
            name,
            kind: LayerKindInfo::Conv2D {
                in_channels: i,
                out_channels: o,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: true,
            },
            input: ShapeInfo::Chw { c: i, h: 4, w: 4 },
            output: ShapeInfo::Chw { c: o, h: 4, w: 4 },
            params: 0,
            macs: 0,
            tapped: false,
        }
    }
    const fn other(name: &'static str, kind: LayerKindInfo) -> LayerInfo {
        LayerInfo {
            name,
            kind,
            input: ShapeInfo::Flat { n: 1 },
            output: ShapeInfo::Flat { n: 1 },
            params: 0,
            macs: 0,
            tapped: false,
        }
    }

    struct Net;
    impl Compressible for Net {
        const INPUT: ShapeInfo = ShapeInfo::Chw { c: 1, h: 4, w: 4 };
        const LAYERS: &'static [LayerInfo] = &[
            conv("conv1", 1, 8),
            other("bn1", LayerKindInfo::BatchNorm2D { channels: 8 }),
            other("relu1", LayerKindInfo::Activation { name: "ReLU" }),
            conv("conv2", 8, 4),
            other("flatten", LayerKindInfo::Flatten),
            other("fc1", LayerKindInfo::Linear { in_features: 64, out_features: 6, bias: false }),
            other("bnf", LayerKindInfo::BatchNorm1D { features: 6 }),
            other("fc2", LayerKindInfo::Linear { in_features: 6, out_features: 2, bias: true }),
        ];
        const COUPLINGS: &'static [Coupling] = &[
            Coupling { producer: "conv1", batch_norm: Some("bn1"), consumer: "conv2", group: 1 },
            Coupling { producer: "conv2", batch_norm: None, consumer: "fc1", group: 16 },
            Coupling { producer: "fc1", batch_norm: Some("bnf"), consumer: "fc2", group: 1 },
        ];
    }

    fn pct(p: f64) -> Sparsity {
        Sparsity::from_percent(p).unwrap()
    }
    const FILTER: Granularity = Granularity::Conv(ConvGranularity::Filter);

    #[test]
    fn convolutions_by_default_linear_on_request_never_the_classifier() {
        let names = |choice| -> Vec<&str> {
            resolve_targets::<Net>(&choice, &[], pct(50.0), FILTER, None).unwrap().iter().map(|t| t.name).collect()
        };
        assert_eq!(names(LayerChoice::Convolutions), ["conv1", "conv2"]);
        assert_eq!(names(LayerChoice::ConvolutionsAndLinear), ["conv1", "conv2", "fc1"]);
        assert_eq!(names(LayerChoice::named(["fc1", "conv1"])), ["conv1", "fc1"], "model order");
        let t = resolve_targets::<Net>(&LayerChoice::ConvolutionsAndLinear, &[], pct(50.0), FILTER, None).unwrap();
        assert_eq!(t[0].bn_names(), Some(("bn1.weight".into(), "bn1.bias".into())));
        assert_eq!(t[1].batch_norm, None);
        assert_eq!((t[2].granularity, t[2].has_bias), (Granularity::Linear(LinearGranularity::Row), false));
        assert_eq!(t[2].bn_names(), Some(("bnf.scale".into(), "bnf.bias".into())));
        assert!(t.iter().all(SparsifyTarget::drops_whole_outputs));
    }

    #[test]
    fn per_layer_targets_override_and_add() {
        let per = [("conv1".to_string(), pct(30.0)), ("fc1".to_string(), pct(10.0))];
        let t = resolve_targets::<Net>(&LayerChoice::Convolutions, &per, pct(50.0), FILTER, None).unwrap();
        let got: Vec<(&str, f64)> = t.iter().map(|t| (t.name, t.sparsity.percent())).collect();
        assert_eq!(got, [("conv1", 30.0), ("conv2", 50.0), ("fc1", 10.0)]);
    }

    #[test]
    fn bad_names_say_why_and_list_the_valid_ones() {
        let cases: [(&str, &str); 3] = [("conv9", "no such layer"), ("relu1", "neither"), ("fc2", "classifier")];
        for (name, why) in cases {
            let e = resolve_targets::<Net>(&LayerChoice::named([name]), &[], pct(50.0), FILTER, None).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(why) && text.contains("conv1, conv2, fc1"), "{text}");
            let per = [(name.to_string(), pct(10.0))];
            assert!(resolve_targets::<Net>(&LayerChoice::Convolutions, &per, pct(50.0), FILTER, None).is_err());
        }
        let twice = [("conv1".to_string(), pct(1.0)), ("conv1".to_string(), pct(2.0))];
        assert!(resolve_targets::<Net>(&LayerChoice::Convolutions, &twice, pct(50.0), FILTER, None).is_err());
    }

    #[test]
    fn nm_needs_input_channels_divisible_by_m() {
        let nm = Some(NmPattern::TWO_FOUR);
        let e = resolve_targets::<Net>(&LayerChoice::Convolutions, &[], pct(50.0), FILTER, nm).unwrap_err();
        assert_eq!(e, CompressError::NmIndivisible { layer: "conv1".into(), in_channels: 1, n: 2, m: 4 });
        let ok = resolve_targets::<Net>(&LayerChoice::named(["conv2", "fc1"]), &[], pct(50.0), FILTER, nm);
        assert_eq!(ok.unwrap().len(), 2);
    }

    #[test]
    fn a_granularity_without_a_linear_counterpart_is_refused() {
        let kernel = Granularity::Conv(ConvGranularity::Kernel);
        let e = resolve_targets::<Net>(&LayerChoice::ConvolutionsAndLinear, &[], pct(50.0), kernel, None).unwrap_err();
        assert!(matches!(e, CompressError::GranularityKind { ref layer, .. } if layer == "fc1"), "{e}");
        assert_eq!(
            granularity_for(TargetKind::Conv, Granularity::Linear(LinearGranularity::Column)),
            Some(Granularity::Conv(ConvGranularity::SharedKernel))
        );
    }
}
