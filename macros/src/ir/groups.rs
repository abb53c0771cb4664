//! Channel groups: the sets of layers whose channels must be pruned together, as torch-pruning's
//! DepGraph finds them by tracing. Here they follow from the layer list: every conv or linear layer
//! writes a fresh set of channels; BatchNorms, activations and pools carry it on; a residual add
//! joins the channels of its two sides into one set. A group is one joined set, with the layers
//! that write it (one, or several across skips), their BatchNorms, and the layers that read it.

use super::layer::LayerKind;
use super::model::Layer;
use super::shape::Shape;

/// One set of channels and the layers bound to it (indices into the model's layers, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub producers: Vec<usize>,
    pub batch_norms: Vec<usize>,
    /// Each reader with the inputs one channel spans (`H×W` for a Linear after a `Flatten`).
    pub consumers: Vec<(usize, usize)>,
    pub channels: usize,
    /// False for the model's outputs (the classes) and for channels added to the model's input.
    pub prunable: bool,
}

/// The channels one layer's output carries, before the adds join them.
#[derive(Default)]
struct Set {
    producers: Vec<usize>,
    batch_norms: Vec<usize>,
    consumers: Vec<(usize, usize)>,
    channels: usize,
    fixed: bool,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// The channel groups of a model whose every layer checked (`shapes` holds each layer's
/// (input, output)). Set 0 is the model's input: a group joined to it is not prunable.
pub fn channel_groups(layers: &[Layer], shapes: &[(Shape, Shape)]) -> Vec<Group> {
    let mut sets = vec![Set { fixed: true, ..Set::default() }];
    let mut current = 0;
    // Inputs of a reader per channel of the current set (grows through `Flatten`).
    let mut span = 1;
    // Per open block: the set it kept, and the main path's once the shortcut began.
    let mut open: Vec<(usize, Option<usize>)> = Vec::new();
    let mut joins = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        match layer.kind {
            LayerKind::Conv2D { out_channels: channels, .. } | LayerKind::Linear { out_features: channels, .. } => {
                sets[current].consumers.push((index, span));
                sets.push(Set { producers: vec![index], channels, ..Set::default() });
                current = sets.len() - 1;
                span = 1;
            }
            LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. } => sets[current].batch_norms.push(index),
            LayerKind::Flatten => {
                if let Shape::Chw { h, w, .. } = shapes[index].0 {
                    span *= h * w;
                }
            }
            LayerKind::Fork => open.push((current, None)),
            LayerKind::Shortcut => {
                if let Some(block) = open.last_mut() {
                    block.1 = Some(current);
                    current = block.0;
                }
            }
            LayerKind::Add { .. } => {
                if let Some((kept, main)) = open.pop() {
                    joins.push((current, main.unwrap_or(kept)));
                }
            }
            _ => {}
        }
    }
    sets[current].fixed = true;
    let mut parent: Vec<usize> = (0..sets.len()).collect();
    for (a, b) in joins {
        let (a, b) = (find(&mut parent, a), find(&mut parent, b));
        parent[a.max(b)] = a.min(b);
    }
    let mut groups: Vec<(usize, Set)> = Vec::new();
    for (id, set) in sets.into_iter().enumerate() {
        let root = find(&mut parent, id);
        match groups.iter_mut().find(|(r, _)| *r == root) {
            Some((_, group)) => {
                group.producers.extend(set.producers);
                group.batch_norms.extend(set.batch_norms);
                group.consumers.extend(set.consumers);
                group.fixed |= set.fixed;
                group.channels = group.channels.max(set.channels);
            }
            None => groups.push((root, set)),
        }
    }
    groups
        .into_iter()
        .filter(|(_, set)| !set.producers.is_empty())
        .map(|(_, mut set)| {
            set.producers.sort_unstable();
            set.batch_norms.sort_unstable();
            set.consumers.sort_unstable();
            Group { producers: set.producers, batch_norms: set.batch_norms, consumers: set.consumers, channels: set.channels, prunable: !set.fixed }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::model::tests::small_vgg;
    use crate::ir::model::Model;

    fn names(model: &Model, indices: &[usize]) -> Vec<String> {
        indices.iter().map(|&i| model.layers[i].name.clone()).collect()
    }

    #[test]
    fn a_chain_has_one_group_per_layer_and_the_classifier_is_fixed() {
        let model = small_vgg();
        let groups = channel_groups(&model.layers, &model.shapes().unwrap());
        assert_eq!(groups.len(), 6, "conv1..conv4, fc1, fc2");
        assert!(groups.iter().all(|g| g.producers.len() == 1));
        assert_eq!(names(&model, &groups[3].producers), ["conv4"]);
        assert_eq!(groups[3].consumers, vec![(15, 49)], "fc1 reads 7×7 inputs per channel of conv4");
        assert!(groups[..5].iter().all(|g| g.prunable));
        assert!(!groups[5].prunable, "fc2 gives the classes");
    }
}
