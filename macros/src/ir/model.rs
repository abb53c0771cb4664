//! A whole model: named layers in forward order, and the shape walk through them.

use super::coupling::{couplings, Coupling};
use super::layer::{LayerKind, ResidualMismatch, ShapeError, Source};
use super::shape::Shape;

/// One field of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    /// `#[tap]`: the layer's output is returned by the forward with taps.
    pub tapped: bool,
}

/// The input shape and the layers, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub input: Shape,
    pub layers: Vec<Layer>,
}

/// What the shape walk found for one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The layer takes `input` and gives `output`.
    Checked { input: Shape, output: Shape },
    /// The layer cannot take the shape it receives.
    Failed(ShapeError),
    /// An earlier mistake left this layer's input unknown; it is not checked (no cascade).
    Unchecked,
}

impl Model {
    /// Walks the shapes through every layer. After a mistake the walk continues from the shape the
    /// faulty layer declares ([`LayerKind::claimed_output`]), so each mistake is reported once.
    pub fn infer(&self) -> Vec<Step> {
        let mut current = Some(self.input);
        // The feature map a run of flat features came from, for Linear's message.
        let mut flattened_from = None;
        // The last field that set the channel count, for messages.
        let mut source = Source::Input;
        let mut steps = Vec::with_capacity(self.layers.len());
        // The residual blocks open at this point (innermost last).
        let mut blocks: Vec<OpenBlock> = Vec::new();
        let mut block_sources: Vec<Source> = Vec::new();
        // The last field before this point, for messages.
        let mut last_field = String::new();
        for layer in &self.layers {
            if layer.kind.is_residual_marker() {
                // The shortcut's channels come from where the block's input came from.
                match layer.kind {
                    LayerKind::Fork => block_sources.push(source.clone()),
                    LayerKind::Shortcut => source = block_sources.last().cloned().unwrap_or_default(),
                    _ => {
                        block_sources.pop();
                    }
                }
                steps.push(residual_step(layer, &mut current, &mut blocks, &last_field));
                flattened_from = None;
                if let (LayerKind::Add { .. }, Some(block)) = (layer.kind, layer.name.split(':').next()) {
                    source = Source::Block(block.to_string());
                }
                continue;
            }
            last_field = layer.name.clone();
            let step = match current {
                None => {
                    current = claimed_without_input(&layer.kind);
                    Step::Unchecked
                }
                Some(input) => match layer.kind.output(input) {
                    Ok(output) => {
                        flattened_from = match (layer.kind, input) {
                            (LayerKind::Flatten, Shape::Chw { c, h, w }) => Some((c, h, w)),
                            (kind, _) if kind.keeps_channels() => flattened_from,
                            _ => None,
                        };
                        current = Some(output);
                        Step::Checked { input, output }
                    }
                    Err(mut error) => {
                        if let ShapeError::LinearInput { flattened_from: from, .. } = &mut error {
                            *from = flattened_from;
                        }
                        error.set_source(source.clone());
                        flattened_from = None;
                        current = layer.kind.claimed_output(input);
                        Step::Failed(error)
                    }
                },
            };
            if layer.kind.is_producer() {
                source = Source::Layer(layer.name.clone());
            }
            if let (Step::Failed(_), Some(block)) = (&step, blocks.last_mut()) {
                block.failed = true;
            }
            steps.push(step);
        }
        steps
    }

    /// The checked shapes of every layer, or `None` if any layer failed.
    pub fn shapes(&self) -> Option<Vec<(Shape, Shape)>> {
        self.infer()
            .into_iter()
            .map(|step| match step {
                Step::Checked { input, output } => Some((input, output)),
                _ => None,
            })
            .collect()
    }

    /// The shape of one output sample, if every layer checks.
    pub fn output(&self) -> Option<Shape> {
        let shapes = self.shapes()?;
        Some(shapes.last().map_or(self.input, |(_, output)| *output))
    }

    /// The coupling structure for structured pruning, if every layer checks.
    pub fn couplings(&self) -> Option<Vec<Coupling>> {
        let shapes = self.shapes()?;
        Some(couplings(&self.layers, &shapes))
    }
}

/// A residual block whose `Add` is still ahead.
struct OpenBlock {
    name: String,
    /// The block's input; `None` when an earlier mistake left it unknown.
    input: Option<Shape>,
    /// The main path's output and its last field, once the shortcut began.
    main: Option<(Option<Shape>, String)>,
    /// A layer inside the block was reported: the add is not checked (no cascade).
    failed: bool,
}

/// The walk through a residual marker: `Fork` keeps the input, `Shortcut` puts the main path aside
/// and resumes from the kept input, `Add` checks that both sides agree.
fn residual_step(layer: &Layer, current: &mut Option<Shape>, blocks: &mut Vec<OpenBlock>, last_field: &str) -> Step {
    let checked = |shape: Option<Shape>| shape.map_or(Step::Unchecked, |shape| Step::Checked { input: shape, output: shape });
    match layer.kind {
        LayerKind::Fork => {
            blocks.push(OpenBlock { name: layer.name.clone(), input: *current, main: None, failed: false });
            checked(*current)
        }
        LayerKind::Shortcut => {
            let Some(block) = blocks.last_mut() else { return Step::Unchecked };
            let main = *current;
            block.main = Some((main, last_field.to_string()));
            *current = block.input;
            match (main, block.input) {
                (Some(main), Some(input)) => Step::Checked { input: main, output: input },
                _ => Step::Unchecked,
            }
        }
        LayerKind::Add { .. } => {
            let Some(block) = blocks.pop() else { return Step::Unchecked };
            let (main, main_from, shortcut, shortcut_from) = match block.main {
                Some((main, main_from)) => (main, main_from, *current, Some(last_field.to_string())),
                None => (*current, last_field.to_string(), block.input, None),
            };
            match (block.input, main, shortcut) {
                _ if block.failed => {
                    *current = main;
                    Step::Unchecked
                }
                (Some(input), Some(main), Some(shortcut)) if main != shortcut => {
                    // Resume from the main path: one mistake, one error.
                    *current = Some(main);
                    Step::Failed(ShapeError::ResidualMismatch(Box::new(ResidualMismatch {
                        block: block.name,
                        input,
                        main,
                        main_from,
                        shortcut,
                        shortcut_from,
                    })))
                }
                (_, Some(main), Some(_)) => {
                    *current = Some(main);
                    Step::Checked { input: main, output: main }
                }
                _ => {
                    *current = main;
                    Step::Unchecked
                }
            }
        }
        _ => unreachable!("only residual markers"),
    }
}

/// After an unknown input, a layer whose output does not depend on its input re-establishes it.
fn claimed_without_input(kind: &LayerKind) -> Option<Shape> {
    match *kind {
        LayerKind::Linear { out_features, .. } => Some(Shape::Flat { n: out_features }),
        LayerKind::BatchNorm1D { features } => Some(Shape::Flat { n: features }),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::layer::{Activation, Window};

    pub(crate) fn layer(name: &str, kind: LayerKind) -> Layer {
        Layer { name: name.to_string(), kind, tapped: false }
    }
    pub(crate) fn conv(i: usize, o: usize) -> LayerKind {
        LayerKind::Conv2D { in_channels: i, out_channels: o, kernel: 3, stride: 1, padding: 1, bias: true }
    }
    pub(crate) fn relu() -> LayerKind {
        LayerKind::Activation(Activation::ReLU)
    }
    pub(crate) fn pool() -> LayerKind {
        LayerKind::MaxPool2D(Window { kernel: 2, stride: 2, padding: 0 })
    }
    pub(crate) fn linear(i: usize, o: usize) -> LayerKind {
        LayerKind::Linear { in_features: i, out_features: o, bias: true }
    }

    fn params(model: &Model) -> usize {
        model.layers.iter().map(|layer| layer.kind.params()).sum()
    }

    /// `conv<index>` (3×3, padding 1, `i → o` channels), `bn<index>` and `relu<index>`.
    fn conv_bn_relu(layers: &mut Vec<Layer>, index: usize, i: usize, o: usize) {
        layers.push(layer(&format!("conv{index}"), conv(i, o)));
        layers.push(layer(&format!("bn{index}"), LayerKind::BatchNorm2D { channels: o }));
        layers.push(layer(&format!("relu{index}"), relu()));
    }

    /// DESIGN.md's SmallVgg on 1×28×28: two blocks of two convs (32, then 64 filters), each block
    /// ending in `pool<block>`, then `fc1` (3136 → 256), `relu5` and `fc2` (256 → 10).
    pub(crate) fn small_vgg() -> Model {
        let mut layers = Vec::new();
        for (k, (i, o)) in [(1, 32), (32, 32), (32, 64), (64, 64)].into_iter().enumerate() {
            conv_bn_relu(&mut layers, k + 1, i, o);
            if k % 2 == 1 {
                layers.push(layer(&format!("pool{}", k / 2 + 1), pool()));
            }
        }
        layers.push(layer("flatten", LayerKind::Flatten));
        layers.push(layer("fc1", linear(3136, 256)));
        layers.push(layer("relu5", relu()));
        layers.push(layer("fc2", linear(256, 10)));
        Model { input: Shape::Chw { c: 1, h: 28, w: 28 }, layers }
    }

    /// torchvision's VGG16-BN with 10 classes, on 3×128×128.
    pub(crate) fn vgg16_bn() -> Model {
        let mut layers = Vec::new();
        let mut channels = 3;
        let stages: [&[usize]; 5] = [&[64, 64], &[128, 128], &[256, 256, 256], &[512, 512, 512], &[512, 512, 512]];
        let mut index = 0;
        for (stage, widths) in stages.iter().enumerate() {
            for &width in widths.iter() {
                index += 1;
                conv_bn_relu(&mut layers, index, channels, width);
                channels = width;
            }
            layers.push(layer(&format!("pool{}", stage + 1), pool()));
        }
        layers.push(layer("avgpool", LayerKind::AdaptiveAvgPool2D { out_h: 7, out_w: 7 }));
        layers.push(layer("flatten", LayerKind::Flatten));
        layers.push(layer("fc1", linear(25088, 4096)));
        layers.push(layer("relu_fc1", relu()));
        layers.push(layer("drop1", LayerKind::Dropout));
        layers.push(layer("fc2", linear(4096, 4096)));
        layers.push(layer("relu_fc2", relu()));
        layers.push(layer("drop2", LayerKind::Dropout));
        layers.push(layer("fc3", linear(4096, 10)));
        Model { input: Shape::Chw { c: 3, h: 128, w: 128 }, layers }
    }

    #[test]
    fn small_vgg_checks_and_counts_871018_params() {
        let model = small_vgg();
        assert!(model.infer().iter().all(|step| matches!(step, Step::Checked { .. })));
        assert_eq!(params(&model), 871_018);
        assert_eq!(model.output(), Some(Shape::Flat { n: 10 }));
        let shapes = model.shapes().unwrap();
        assert_eq!(shapes[13].1, Shape::Chw { c: 64, h: 7, w: 7 }, "after pool2");
        assert_eq!(shapes[14].1, Shape::Flat { n: 3136 }, "after flatten");
    }

    #[test]
    fn small_vgg_costs_19_1_million_macs() {
        // DESIGN.md's reference table: 19.1 M MACs per image.
        let model = small_vgg();
        let macs: usize = model.layers.iter().zip(model.shapes().unwrap()).map(|(l, (_, out))| l.kind.macs(out)).sum();
        assert_eq!(macs, 19_094_528);
    }

    #[test]
    fn vgg16_bn_counts_134309962_params() {
        let model = vgg16_bn();
        assert_eq!(model.output(), Some(Shape::Flat { n: 10 }));
        assert_eq!(params(&model), 134_309_962);
        let shapes = model.shapes().unwrap();
        let pool5 = model.layers.iter().position(|l| l.name == "pool5").unwrap();
        assert_eq!(shapes[pool5].1, Shape::Chw { c: 512, h: 4, w: 4 });
    }

    #[test]
    fn one_mistake_gives_one_error() {
        let mut model = small_vgg();
        // conv3 declared for 16 input channels while conv2 gives 32: bn3 (64) must still check.
        model.layers[7].kind = conv(16, 64);
        let steps = model.infer();
        let failed: Vec<usize> = steps.iter().enumerate().filter(|(_, s)| matches!(s, Step::Failed(_))).map(|(i, _)| i).collect();
        assert_eq!(failed, vec![7]);
        assert!(steps.iter().all(|s| !matches!(s, Step::Unchecked)));
    }

    #[test]
    fn every_independent_mistake_is_reported() {
        let mut model = small_vgg();
        model.layers[1].kind = LayerKind::BatchNorm2D { channels: 16 }; // bn1
        model.layers[15].kind = linear(3000, 256); // fc1
        let steps = model.infer();
        match (&steps[1], &steps[15]) {
            (Step::Failed(bn1 @ ShapeError::BatchNormSize { declared: 16, .. }), Step::Failed(fc1)) => {
                assert!(bn1.to_string().starts_with("`BatchNorm2D` normalises 16 channels but `conv1` gives 32"), "{bn1}");
                assert_eq!(
                    *fc1,
                    ShapeError::LinearInput { layer: "Linear", declared: 3000, received: 3136, flattened_from: Some((64, 7, 7)) }
                );
            }
            other => panic!("unexpected steps {other:?}"),
        }
        assert_eq!(steps.iter().filter(|s| matches!(s, Step::Failed(_))).count(), 2);
        assert_eq!(model.couplings(), None);
    }

    #[test]
    fn unknown_shapes_skip_checks_until_a_linear() {
        let model = Model {
            input: Shape::Flat { n: 8 },
            layers: vec![
                layer("pool", pool()),         // needs a map: fails
                layer("relu", relu()),         // unknown input: unchecked
                layer("fc1", linear(99, 4)),   // unknown input: unchecked, output known again
                layer("fc2", linear(5, 2)),    // 4 != 5: fails
            ],
        };
        let steps = model.infer();
        assert!(matches!(steps[0], Step::Failed(ShapeError::NeedsMap { .. })));
        assert_eq!(steps[1], Step::Unchecked);
        assert_eq!(steps[2], Step::Unchecked);
        assert!(matches!(steps[3], Step::Failed(ShapeError::LinearInput { declared: 5, received: 4, .. })));
    }

    /// A residual block `name` as the derive flattens it: `Fork`, main path, `Shortcut` and
    /// shortcut (if any), `Add`.
    pub(crate) fn block(name: &str, main: &[(&str, LayerKind)], shortcut: &[(&str, LayerKind)]) -> Vec<Layer> {
        let mut layers = vec![layer(name, LayerKind::Fork)];
        layers.extend(main.iter().map(|(n, k)| layer(&format!("{name}.{n}"), *k)));
        if !shortcut.is_empty() {
            layers.push(layer(&format!("{name}:shortcut"), LayerKind::Shortcut));
            layers.extend(shortcut.iter().map(|(n, k)| layer(&format!("{name}.{n}"), *k)));
        }
        layers.push(layer(&format!("{name}:add"), LayerKind::Add { relu: true }));
        layers
    }

    pub(crate) fn strided(i: usize, o: usize, kernel: usize, stride: usize, padding: usize) -> LayerKind {
        LayerKind::Conv2D { in_channels: i, out_channels: o, kernel, stride, padding, bias: false }
    }

    #[test]
    fn residual_blocks_check_both_paths() {
        let bn = |c| LayerKind::BatchNorm2D { channels: c };
        let mut layers = vec![layer("stem", conv(1, 8))];
        layers.extend(block("b1", &[("conv1", conv(8, 8)), ("bn1", bn(8))], &[]));
        layers.extend(block("b2", &[("conv1", strided(8, 16, 3, 2, 1)), ("bn1", bn(16))], &[("down", strided(8, 16, 1, 2, 0))]));
        let model = Model { input: Shape::Chw { c: 1, h: 8, w: 8 }, layers };
        assert_eq!(model.output(), Some(Shape::Chw { c: 16, h: 4, w: 4 }));
        let shapes = model.shapes().unwrap();
        let shortcut = model.layers.iter().position(|l| l.name == "b2:shortcut").unwrap();
        assert_eq!(shapes[shortcut], (Shape::Chw { c: 16, h: 4, w: 4 }, Shape::Chw { c: 8, h: 8, w: 8 }), "main end → block input");
        // Only the block interiors are free to prune: b1's conv1 feeds the skip's add.
        assert_eq!(model.couplings().unwrap().len(), 0);
    }

    #[test]
    fn a_skip_that_does_not_match_names_both_sides_and_the_fix() {
        let layers = block("b", &[("conv1", strided(8, 16, 3, 2, 1))], &[]);
        let model = Model { input: Shape::Chw { c: 8, h: 8, w: 8 }, layers };
        let steps = model.infer();
        let Step::Failed(error) = &steps[2] else { panic!("{steps:?}") };
        assert_eq!(
            error.to_string(),
            "residual block `b` adds two different shapes: its main path gives a 16×4×4 feature map (after `b.conv1`) but its \
             skip passes its input, a 8×8×8 feature map, unchanged; give the block a shortcut from 8×8×8 to 16×4×4: \
             `#[shortcut] downsample: UnbiasedConv2D<8, 16, 1, 2>` and `#[shortcut] downsample_bn: BatchNorm2D<16>`"
        );
    }

    #[test]
    fn a_mistake_inside_a_block_is_not_reported_again_at_its_add() {
        let layers = block("b", &[("conv1", conv(4, 8))], &[]);
        let model = Model { input: Shape::Chw { c: 8, h: 8, w: 8 }, layers };
        let failed = model.infer().iter().filter(|s| matches!(s, Step::Failed(_))).count();
        assert_eq!(failed, 1);
    }

    #[test]
    fn empty_model_outputs_its_input() {
        let model = Model { input: Shape::Flat { n: 3 }, layers: vec![] };
        assert_eq!(model.output(), Some(Shape::Flat { n: 3 }));
        assert_eq!(params(&model), 0);
    }
}
