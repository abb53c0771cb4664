//! Structural rewrites as IR → IR functions, for `compress!`: prune widths, fold BatchNorms,
//! factorize a Linear. Each rewrite checks its preconditions, changes the layer list, then checks
//! that every layer still fits the next; an error names the pass and the layer.

// `compress!` (the second half of issue #4) is the caller; until it lands only the tests use these.
#![cfg_attr(not(test), allow(dead_code))]

use std::fmt;

use super::groups::{channel_groups, Group};
use super::layer::{LayerKind, ShapeError};
use super::model::{Layer, Model, Step};

/// Why a rewrite cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    /// No field has this name; `known` lists the names that would be accepted.
    UnknownLayer { pass: &'static str, name: String, known: Vec<String> },
    /// The layer feeds the model's output (the classifier): its outputs are the classes.
    PrunesClassifier { name: String },
    /// The layer's channels are added to the model's input through a skip connection.
    JoinsInput { name: String },
    /// Two layers that write the same channels through skip connections got different widths.
    SplitGroup { name: String, width: usize, other: String, other_width: usize, members: Vec<String> },
    /// The layer has no prunable outputs (not a convolution or linear layer).
    NotPrunable { name: String, kind: &'static str },
    /// A width of zero, or larger than the layer has.
    WidthOutOfRange { name: String, width: usize, max: usize },
    /// A BatchNorm that does not directly follow a convolution or linear layer.
    FoldWithoutProducer { name: String, follows: Option<String> },
    /// `factorize` on something that is not a linear layer.
    FactorizeNotLinear { name: String, kind: &'static str },
    /// A rank of zero, or larger than `min(in, out)`.
    RankOutOfRange { name: String, rank: usize, max: usize },
    /// A percentage outside 0–100.
    PercentOutOfRange { pass: &'static str, percent: u32 },
    /// After the change a layer no longer fits (a bug in the pass, or a model that did not check).
    Inconsistent { pass: &'static str, layer: String, error: Box<ShapeError> },
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::UnknownLayer { pass, name, known } => {
                write!(f, "{pass}: no layer named `{name}`; the layers it accepts are: {}", known.join(", "))
            }
            RewriteError::PrunesClassifier { name } => write!(
                f,
                "prune: `{name}` produces the model's outputs (the classes), which never shrink"
            ),
            RewriteError::JoinsInput { name } => write!(
                f,
                "prune: `{name}`'s outputs are added to the model's input through a skip connection, so they \
                 keep the input's channels: prune a layer inside a block instead, or start the model with a \
                 convolution (a stem) whose width the group then follows"
            ),
            RewriteError::SplitGroup { name, width, other, other_width, members } => write!(
                f,
                "prune: `{name} = {width}` and `{other} = {other_width}` split one channel group: {} add their \
                 outputs through skip connections, so they keep one width; give the group one width, on any one \
                 of its members (e.g. `{other} = {other_width}`)",
                members.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ),
            RewriteError::NotPrunable { name, kind } => {
                write!(f, "prune: `{name}` is a `{kind}`; only convolutions and linear layers have outputs to prune")
            }
            RewriteError::WidthOutOfRange { name, width, max } => {
                write!(f, "prune: `{name}` has {max} outputs; a width of {width} is not between 1 and {max}")
            }
            RewriteError::FoldWithoutProducer { name, follows } => match follows {
                Some(previous) => write!(
                    f,
                    "fold: `{name}` follows `{previous}`, not a convolution or linear layer, so there \
                     is nothing to fold it into"
                ),
                None => write!(f, "fold: `{name}` is the first layer, so there is nothing to fold it into"),
            },
            RewriteError::FactorizeNotLinear { name, kind } => {
                write!(f, "factorize: `{name}` is a `{kind}`; only linear layers are factorized")
            }
            RewriteError::RankOutOfRange { name, rank, max } => {
                write!(f, "factorize: `{name}` allows ranks 1 to {max}; {rank} is outside")
            }
            RewriteError::PercentOutOfRange { pass, percent } => {
                write!(f, "{pass}: {percent}% is not between 0% and 100%")
            }
            RewriteError::Inconsistent { pass, layer, error } => {
                write!(f, "{pass}: after the change, layer `{layer}` no longer fits: {error}")
            }
        }
    }
}

fn find(model: &Model, pass: &'static str, name: &str, accepts: impl Fn(&LayerKind) -> bool) -> Result<usize, RewriteError> {
    model.layers.iter().position(|layer| layer.name == name).ok_or_else(|| RewriteError::UnknownLayer {
        pass,
        name: name.to_string(),
        known: model.layers.iter().filter(|layer| accepts(&layer.kind)).map(|layer| layer.name.clone()).collect(),
    })
}

/// Every layer must check, before a rewrite (the derive guarantees it for its models) and after.
fn consistent(pass: &'static str, model: Model) -> Result<Model, RewriteError> {
    let failure = model.infer().into_iter().zip(&model.layers).find_map(|(step, layer)| match step {
        Step::Failed(error) => Some((layer.name.clone(), error)),
        _ => None,
    });
    match failure {
        Some((layer, error)) => Err(RewriteError::Inconsistent { pass, layer, error: Box::new(error) }),
        None => Ok(model),
    }
}

/// The channel groups of a model that checks (see [`super::groups`]).
fn groups(model: &Model) -> Vec<Group> {
    model.shapes().map(|shapes| channel_groups(&model.layers, &shapes)).unwrap_or_default()
}

/// The names of the prunable layers (the producers of a prunable channel group), in order.
pub fn prunable(model: &Model) -> Vec<String> {
    let mut indices: Vec<usize> = groups(model).iter().filter(|g| g.prunable).flat_map(|g| g.producers.clone()).collect();
    indices.sort_unstable();
    indices.into_iter().map(|i| model.layers[i].name.clone()).collect()
}

/// The other producers that share `name`'s channels through skip connections (empty for a layer
/// whose channels are its own).
pub fn coupled_with(model: &Model, name: &str) -> Vec<String> {
    let Some(index) = model.layers.iter().position(|l| l.name == name) else { return Vec::new() };
    groups(model)
        .into_iter()
        .find(|g| g.producers.contains(&index))
        .map(|g| g.producers.iter().filter(|&&p| p != index).map(|&p| model.layers[p].name.clone()).collect())
        .unwrap_or_default()
}

fn out_channels(kind: &LayerKind) -> Option<usize> {
    match *kind {
        LayerKind::Conv2D { out_channels, .. } => Some(out_channels),
        LayerKind::Linear { out_features, .. } => Some(out_features),
        _ => None,
    }
}

/// Sets the output width of each named layer and rewires what shares its channels: the other
/// layers of its channel group (those adding into the same skip connections), the BatchNorms on
/// them and every consumer's inputs (in groups of `H×W` after a `Flatten`). Two members of one
/// group given different widths are an error naming both.
pub fn prune(model: &Model, widths: &[(&str, usize)]) -> Result<Model, RewriteError> {
    let model = &consistent("prune", model.clone())?;
    let groups = groups(model);
    let mut chosen: Vec<Option<(usize, &str)>> = vec![None; groups.len()];
    for &(name, width) in widths {
        let index = find(model, "prune", name, LayerKind::is_producer)?;
        let kind = model.layers[index].kind;
        let Some(max) = out_channels(&kind) else {
            return Err(RewriteError::NotPrunable { name: name.to_string(), kind: kind.type_name() });
        };
        let Some(g) = groups.iter().position(|g| g.producers.contains(&index)) else {
            return Err(RewriteError::PrunesClassifier { name: name.to_string() });
        };
        if !groups[g].prunable {
            let classifier = groups[g].consumers.is_empty();
            return Err(if classifier {
                RewriteError::PrunesClassifier { name: name.to_string() }
            } else {
                RewriteError::JoinsInput { name: name.to_string() }
            });
        }
        if width == 0 || width > max {
            return Err(RewriteError::WidthOutOfRange { name: name.to_string(), width, max });
        }
        match chosen[g] {
            Some((other_width, other)) if other_width != width => {
                let members = groups[g].producers.iter().map(|&p| model.layers[p].name.clone()).collect();
                return Err(RewriteError::SplitGroup {
                    name: name.to_string(),
                    width,
                    other: other.to_string(),
                    other_width,
                    members,
                });
            }
            _ => chosen[g] = Some((width, name)),
        }
    }
    let mut pruned = model.clone();
    for (group, chosen) in groups.iter().zip(chosen) {
        let Some((width, _)) = chosen else { continue };
        for &producer in &group.producers {
            match &mut pruned.layers[producer].kind {
                LayerKind::Conv2D { out_channels, .. } => *out_channels = width,
                LayerKind::Linear { out_features, .. } => *out_features = width,
                _ => unreachable!("a group's producers are convolutions or linear layers"),
            }
        }
        for &bn in &group.batch_norms {
            match &mut pruned.layers[bn].kind {
                LayerKind::BatchNorm2D { channels } => *channels = width,
                LayerKind::BatchNorm1D { features } => *features = width,
                _ => unreachable!("a group's batch_norms are BatchNorms"),
            }
        }
        for &(consumer, span) in &group.consumers {
            match &mut pruned.layers[consumer].kind {
                LayerKind::Conv2D { in_channels, .. } => *in_channels = width * span,
                LayerKind::Linear { in_features, .. } => *in_features = width * span,
                _ => unreachable!("a group's consumers are convolutions or linear layers"),
            }
        }
    }
    consistent("prune", pruned)
}

/// `width − ⌊width · percent / 100⌋`, at least 1: the width `prune(percent%)` leaves.
pub fn kept_by_percent(width: usize, percent: u32) -> usize {
    (width - width * percent as usize / 100).max(1)
}

/// Removes `percent` of the outputs of every prunable channel group: `keep = max(1, width −
/// ⌊width · percent / 100⌋)`, one width per group.
pub fn prune_percent(model: &Model, percent: u32) -> Result<Model, RewriteError> {
    prune_percent_except(model, percent, &[])
}

/// [`prune_percent`], except that the groups of the `explicit` layers take the widths given.
pub fn prune_percent_except(model: &Model, percent: u32, explicit: &[(&str, usize)]) -> Result<Model, RewriteError> {
    if percent > 100 {
        return Err(RewriteError::PercentOutOfRange { pass: "prune", percent });
    }
    let named = |index: usize| explicit.iter().any(|(name, _)| model.layers[index].name == *name);
    let mut widths: Vec<(&str, usize)> = Vec::new();
    for group in groups(model).iter().filter(|g| g.prunable) {
        if group.producers.iter().any(|&p| named(p)) {
            continue;
        }
        let first = group.producers[0];
        let width = out_channels(&model.layers[first].kind).expect("producers have outputs");
        widths.push((model.layers[first].name.as_str(), kept_by_percent(width, percent)));
    }
    widths.extend_from_slice(explicit);
    prune(model, &widths)
}

/// Merges every BatchNorm into the convolution or linear layer right before it, which gains a bias.
/// A BatchNorm anywhere else is an error: it has nothing to fold into.
pub fn fold(model: &Model) -> Result<Model, RewriteError> {
    let model = &consistent("fold", model.clone())?;
    let mut layers: Vec<Layer> = Vec::with_capacity(model.layers.len());
    for layer in &model.layers {
        if !matches!(layer.kind, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. }) {
            layers.push(layer.clone());
            continue;
        }
        let previous = layers.last_mut();
        match previous.map(|p| (p.kind.is_producer(), p)) {
            Some((true, producer)) => {
                match &mut producer.kind {
                    LayerKind::Conv2D { bias, .. } | LayerKind::Linear { bias, .. } => *bias = true,
                    _ => unreachable!("producers are convolutions or linear layers"),
                }
                // A tap on the BatchNorm now reads the folded layer's output, which equals it.
                producer.tapped |= layer.tapped;
            }
            Some((false, previous)) => {
                return Err(RewriteError::FoldWithoutProducer { name: layer.name.clone(), follows: Some(previous.name.clone()) })
            }
            None => return Err(RewriteError::FoldWithoutProducer { name: layer.name.clone(), follows: None }),
        }
    }
    consistent("fold", Model { input: model.input, layers })
}

/// `K = max(1, ⌊(100 − removed_percent) · min(I, O) / 100⌋)`, the rank kept by `factorize(removed)`.
pub fn rank_for(in_features: usize, out_features: usize, removed_percent: u32) -> usize {
    let removed_percent = removed_percent.min(100) as usize;
    ((100 - removed_percent) * in_features.min(out_features) / 100).max(1)
}

/// Replaces `Linear<I, O>` named `name` by `UnbiasedLinear<I, K>` named `<name>_in` followed by
/// `Linear<K, O>` (with the original bias, if any) named `<name>_out`.
pub fn factorize(model: &Model, name: &str, rank: usize) -> Result<Model, RewriteError> {
    let model = &consistent("factorize", model.clone())?;
    let index = find(model, "factorize", name, |kind| matches!(kind, LayerKind::Linear { .. }))?;
    let layer = &model.layers[index];
    let LayerKind::Linear { in_features, out_features, bias } = layer.kind else {
        return Err(RewriteError::FactorizeNotLinear { name: name.to_string(), kind: layer.kind.type_name() });
    };
    let max = in_features.min(out_features);
    if rank == 0 || rank > max {
        return Err(RewriteError::RankOutOfRange { name: name.to_string(), rank, max });
    }
    let mut layers = model.layers.clone();
    let first = Layer {
        name: format!("{name}_in"),
        kind: LayerKind::Linear { in_features, out_features: rank, bias: false },
        tapped: false,
    };
    let second = Layer {
        name: format!("{name}_out"),
        kind: LayerKind::Linear { in_features: rank, out_features, bias },
        tapped: layer.tapped,
    };
    layers.splice(index..=index, [first, second]);
    consistent("factorize", Model { input: model.input, layers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::model::tests::{small_vgg, vgg16_bn};
    use crate::ir::shape::Shape;

    fn kind(model: &Model, name: &str) -> LayerKind {
        model.layers.iter().find(|layer| layer.name == name).unwrap().kind
    }

    fn params(model: &Model) -> usize {
        model.layers.iter().map(|layer| layer.kind.params()).sum()
    }

    #[test]
    fn prune_rewires_batch_norm_next_conv_and_flattened_linear() {
        let pruned = prune(&small_vgg(), &[("conv2", 16), ("conv4", 48)]).unwrap();
        assert!(matches!(kind(&pruned, "conv2"), LayerKind::Conv2D { in_channels: 32, out_channels: 16, .. }));
        assert_eq!(kind(&pruned, "bn2"), LayerKind::BatchNorm2D { channels: 16 });
        assert!(matches!(kind(&pruned, "conv3"), LayerKind::Conv2D { in_channels: 16, out_channels: 64, .. }));
        assert_eq!(kind(&pruned, "bn4"), LayerKind::BatchNorm2D { channels: 48 });
        assert_eq!(kind(&pruned, "fc1"), LayerKind::Linear { in_features: 48 * 49, out_features: 256, bias: true });
        assert_eq!(pruned.output(), Some(Shape::Flat { n: 10 }));
    }

    #[test]
    fn prune_half_of_every_layer() {
        let pruned = prune_percent(&small_vgg(), 50).unwrap();
        let widths: Vec<usize> = ["conv1", "conv2", "conv3", "conv4"]
            .iter()
            .map(|name| match kind(&pruned, name) {
                LayerKind::Conv2D { out_channels, .. } => out_channels,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(widths, [16, 16, 32, 32]);
        assert_eq!(kind(&pruned, "fc1"), LayerKind::Linear { in_features: 32 * 49, out_features: 128, bias: true });
        assert_eq!(kind(&pruned, "fc2"), LayerKind::Linear { in_features: 128, out_features: 10, bias: true });
        // 160 + 2320 + 4640 + 9248 convs, 192 BN, 200832 + 1290 linear
        assert_eq!(params(&pruned), 160 + 2320 + 4640 + 9248 + 192 + 200_832 + 1290);
        assert_eq!(prune_percent(&small_vgg(), 100).unwrap().layers.len(), 18, "every layer keeps at least one output");
    }

    #[test]
    fn prune_rejects_the_classifier_unknown_names_and_bad_widths() {
        let model = small_vgg();
        assert_eq!(prune(&model, &[("fc2", 5)]), Err(RewriteError::PrunesClassifier { name: "fc2".into() }));
        let unknown = prune(&model, &[("conv9", 5)]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "prune: no layer named `conv9`; the layers it accepts are: conv1, conv2, conv3, conv4, fc1, fc2"
        );
        assert_eq!(prune(&model, &[("conv1", 33)]), Err(RewriteError::WidthOutOfRange { name: "conv1".into(), width: 33, max: 32 }));
        assert_eq!(prune(&model, &[("relu1", 3)]), Err(RewriteError::NotPrunable { name: "relu1".into(), kind: "ReLU" }));
        assert_eq!(prune_percent(&model, 101), Err(RewriteError::PercentOutOfRange { pass: "prune", percent: 101 }));
    }

    #[test]
    fn fold_removes_batch_norms_and_biases_their_producers() {
        let folded = fold(&small_vgg()).unwrap();
        assert_eq!(folded.layers.len(), 14);
        assert!(!folded.layers.iter().any(|l| matches!(l.kind, LayerKind::BatchNorm2D { .. })));
        assert_eq!(params(&folded), 871_018 - 2 * (32 + 32 + 64 + 64));
        let unbiased_vgg = {
            let mut model = vgg16_bn();
            for layer in &mut model.layers {
                if let LayerKind::Conv2D { bias, .. } = &mut layer.kind {
                    *bias = false;
                }
            }
            model
        };
        let folded = fold(&unbiased_vgg).unwrap();
        assert!(folded.layers.iter().all(|l| !matches!(l.kind, LayerKind::Conv2D { bias: false, .. })));
    }

    #[test]
    fn fold_rejects_a_batch_norm_after_an_activation() {
        let mut model = small_vgg();
        model.layers.swap(1, 2); // conv1, relu1, bn1
        assert_eq!(
            fold(&model).unwrap_err().to_string(),
            "fold: `bn1` follows `relu1`, not a convolution or linear layer, so there is nothing to fold it into"
        );
    }

    #[test]
    fn factorize_splits_a_linear_at_the_rank() {
        assert_eq!(rank_for(3136, 256, 50), 128);
        assert_eq!(rank_for(4, 3, 99), 1);
        let factorized = factorize(&small_vgg(), "fc1", rank_for(3136, 256, 50)).unwrap();
        let names: Vec<&str> = factorized.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(&names[15..18], ["fc1_in", "fc1_out", "relu5"]);
        assert_eq!(kind(&factorized, "fc1_in"), LayerKind::Linear { in_features: 3136, out_features: 128, bias: false });
        assert_eq!(kind(&factorized, "fc1_out"), LayerKind::Linear { in_features: 128, out_features: 256, bias: true });
        assert_eq!(params(&factorized), 871_018 - 3136 * 256 + 3136 * 128 + 128 * 256);
    }

    #[test]
    fn factorize_rejects_convolutions_and_bad_ranks() {
        let model = small_vgg();
        assert_eq!(factorize(&model, "conv1", 4), Err(RewriteError::FactorizeNotLinear { name: "conv1".into(), kind: "Conv2D" }));
        assert_eq!(factorize(&model, "fc2", 11), Err(RewriteError::RankOutOfRange { name: "fc2".into(), rank: 11, max: 10 }));
        assert!(matches!(factorize(&model, "fc9", 1), Err(RewriteError::UnknownLayer { .. })));
    }

    #[test]
    fn a_model_that_does_not_check_is_refused_with_the_layer() {
        let mut model = small_vgg();
        model.layers[1].kind = LayerKind::BatchNorm2D { channels: 8 };
        match fold(&model) {
            Err(RewriteError::Inconsistent { pass: "fold", layer, .. }) => assert_eq!(layer, "bn1"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A stem, an identity block and a block with a strided shortcut.
    fn small_resnet() -> Model {
        use crate::ir::model::tests::{block, conv, layer, strided};
        let bn = |c| LayerKind::BatchNorm2D { channels: c };
        let mut layers = vec![layer("stem", conv(1, 8)), layer("bn", bn(8))];
        layers.extend(block("b1", &[("conv1", conv(8, 8)), ("conv2", conv(8, 8)), ("bn2", bn(8))], &[]));
        layers.extend(block("b2", &[("conv1", strided(8, 16, 3, 2, 1)), ("conv2", conv(16, 16))], &[("down", strided(8, 16, 1, 2, 0)), ("down_bn", bn(16))]));
        layers.extend([layer("gap", LayerKind::GlobalAvgPool), layer("fc", LayerKind::Linear { in_features: 16, out_features: 10, bias: true })]);
        Model { input: Shape::Chw { c: 1, h: 8, w: 8 }, layers }
    }

    #[test]
    fn one_width_prunes_every_member_of_a_channel_group() {
        let model = small_resnet();
        assert_eq!(prunable(&model), ["stem", "b1.conv1", "b1.conv2", "b2.conv1", "b2.conv2", "b2.down"]);
        assert_eq!(coupled_with(&model, "b1.conv2"), ["stem"]);
        let pruned = prune(&model, &[("b1.conv2", 6)]).unwrap();
        assert!(matches!(kind(&pruned, "stem"), LayerKind::Conv2D { out_channels: 6, .. }));
        assert_eq!(kind(&pruned, "bn"), LayerKind::BatchNorm2D { channels: 6 });
        for reader in ["b1.conv1", "b2.conv1", "b2.down"] {
            assert!(matches!(kind(&pruned, reader), LayerKind::Conv2D { in_channels: 6, .. }), "{reader}");
        }
        let halved = prune_percent(&model, 50).unwrap();
        assert!(matches!(kind(&halved, "b2.down"), LayerKind::Conv2D { in_channels: 4, out_channels: 8, .. }));
        assert_eq!(kind(&halved, "fc"), LayerKind::Linear { in_features: 8, out_features: 10, bias: true });
    }

    #[test]
    fn two_widths_for_one_group_are_refused_with_its_members() {
        let error = prune(&small_resnet(), &[("stem", 6), ("b1.conv2", 4)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "prune: `b1.conv2 = 4` and `stem = 6` split one channel group: `stem`, `b1.conv2` add their outputs \
             through skip connections, so they keep one width; give the group one width, on any one of its members \
             (e.g. `stem = 6`)"
        );
        assert!(prune(&small_resnet(), &[("stem", 6), ("b1.conv2", 6)]).is_ok(), "the same width twice is fine");
    }

    #[test]
    fn passes_compose() {
        let model = prune_percent(&small_vgg(), 50).and_then(|m| fold(&m)).and_then(|m| factorize(&m, "fc1", 64)).unwrap();
        assert_eq!(model.output(), Some(Shape::Flat { n: 10 }));
        assert_eq!(kind(&model, "fc1_in"), LayerKind::Linear { in_features: 1568, out_features: 64, bias: false });
    }
}
