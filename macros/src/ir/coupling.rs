//! Which layers change together when the outputs of a convolution or linear layer are pruned.

use super::layer::LayerKind;
use super::model::Layer;
use super::shape::Shape;

/// Pruning output `k` of `producer` removes entry `k` of `batch_norm` and consumer inputs
/// `k·group .. (k+1)·group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupling {
    pub producer: usize,
    pub batch_norm: Option<usize>,
    pub consumer: usize,
    pub group: usize,
}

/// Finds, for every convolution and linear layer, the first BatchNorm and the consumer downstream,
/// passing through layers that keep channels. `Flatten` multiplies the group by the `H×W` it
/// flattens; `GlobalAvgPool` keeps one input per channel. A producer with no consumer feeds the
/// model's output (the classifier) and is not prunable. `shapes` holds each layer's (input, output).
pub fn couplings(layers: &[Layer], shapes: &[(Shape, Shape)]) -> Vec<Coupling> {
    let mut found = Vec::new();
    for (producer, layer) in layers.iter().enumerate() {
        if !layer.kind.is_producer() {
            continue;
        }
        let mut batch_norm = None;
        let mut group = 1;
        for (index, next) in layers.iter().enumerate().skip(producer + 1) {
            match next.kind {
                LayerKind::Conv2D { .. } | LayerKind::Linear { .. } => {
                    found.push(Coupling { producer, batch_norm, consumer: index, group });
                    break;
                }
                LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. } => {
                    batch_norm = batch_norm.or(Some(index));
                }
                // The channels enter or leave a skip connection: they are coupled across the block
                // and not pruned one layer at a time.
                LayerKind::Fork | LayerKind::Shortcut | LayerKind::Add { .. } => break,
                LayerKind::Flatten => {
                    if let Shape::Chw { h, w, .. } = shapes[index].0 {
                        group *= h * w;
                    }
                }
                kind => debug_assert!(kind.keeps_channels(), "{kind:?} neither keeps nor consumes channels"),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::model::tests::{conv, layer, linear, relu, small_vgg, vgg16_bn};
    use crate::ir::model::Model;

    fn named(model: &Model) -> Vec<(String, Option<String>, String, usize)> {
        let name = |i: usize| model.layers[i].name.clone();
        model
            .couplings()
            .unwrap()
            .into_iter()
            .map(|c| (name(c.producer), c.batch_norm.map(name), name(c.consumer), c.group))
            .collect()
    }

    fn row(p: &str, bn: Option<&str>, c: &str, g: usize) -> (String, Option<String>, String, usize) {
        (p.into(), bn.map(Into::into), c.into(), g)
    }

    #[test]
    fn small_vgg_couplings() {
        assert_eq!(
            named(&small_vgg()),
            vec![
                row("conv1", Some("bn1"), "conv2", 1),
                row("conv2", Some("bn2"), "conv3", 1),
                row("conv3", Some("bn3"), "conv4", 1),
                row("conv4", Some("bn4"), "fc1", 49),
                row("fc1", None, "fc2", 1),
            ]
        );
    }

    #[test]
    fn vgg16_bn_couples_the_last_conv_through_adaptive_pool_and_flatten() {
        let rows = named(&vgg16_bn());
        assert_eq!(rows.len(), 13 + 2, "13 convs and fc1, fc2; never the classifier");
        assert!(rows.contains(&row("conv13", Some("bn13"), "fc1", 49)));
        assert!(rows.contains(&row("fc2", None, "fc3", 1)));
        assert!(!rows.iter().any(|r| r.0 == "fc3"));
    }

    #[test]
    fn global_pool_keeps_one_input_per_channel() {
        let model = Model {
            input: Shape::Chw { c: 1, h: 8, w: 8 },
            layers: vec![
                layer("conv", conv(1, 4)),
                layer("relu", relu()),
                layer("gap", LayerKind::GlobalAvgPool),
                layer("bn", LayerKind::BatchNorm1D { features: 4 }),
                layer("fc", linear(4, 3)),
            ],
        };
        assert_eq!(named(&model), vec![row("conv", Some("bn"), "fc", 1)]);
    }

    #[test]
    fn a_final_conv_is_not_prunable() {
        let model = Model { input: Shape::Chw { c: 1, h: 4, w: 4 }, layers: vec![layer("conv", conv(1, 2))] };
        assert_eq!(named(&model), vec![]);
    }
}
