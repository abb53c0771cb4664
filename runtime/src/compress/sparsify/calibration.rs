//! Calibration for activation criteria (`wanda`): what each conv/linear layer of a derived model
//! receives, reduced to one value per input channel.
//!
//! There is no second forward pass here: the images run through the model's fp32 inference plan
//! ([`crate::deploy::accelerate`], the same plan [`crate::deploy::quantize_static`] calibrates on),
//! which reports the input of every node. The plan folds each BatchNorm into the layer before it,
//! which changes that layer's output only through the folded arithmetic, so the input a layer sees
//! in the plan is the input it sees in the model in inference mode (BatchNorm on its running
//! statistics, Dropout off). A Flatten is free in the plan (channel-major order is already flat),
//! so a linear layer after it gets one value per input feature.
//!
//! - [`input_norms`]: one pass over a set of images, one [`InputNorm`] per conv/linear layer.
//! - [`CalibrationImages`]: an owned set of images, as [`Sparsifier::with_calibration`] keeps it.
//! - [`CalibrationWindow`]: the last `n` training batches, as
//!   [`SparsifyCallback`](super::SparsifyCallback) keeps them.
//!
//! [`Sparsifier::with_calibration`]: super::Sparsifier::with_calibration

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::criteria::{ActivationStat, ActivationStats};
use crate::compress::CompressError;
use crate::deploy::{accelerate, DeployError};
use crate::model::{Compressible, ShapeInfo};

/// The statistic of one layer's input, one value per input channel (per input feature for a
/// linear layer), ready for [`WeightState::with_activation_norm`](super::WeightState::with_activation_norm).
#[derive(Debug, Clone, PartialEq)]
pub struct InputNorm {
    /// The layer's field name.
    pub layer: &'static str,
    /// One value per input channel.
    pub values: Vec<f32>,
}

/// Runs `n_images` images (`images` holds them one after the other, each `M::INPUT` channel-major)
/// through `model`'s fp32 inference plan and reduces what each conv/linear layer receives with
/// `stat` ([`ActivationStat::L2Norm`] is Wanda's `‖X‖`: per input channel, the square root of the
/// mean over images of the sum of squares over positions). One [`InputNorm`] per conv/linear
/// layer, in model order.
///
/// Errors: no image, a length that is not `n_images` images, or a layer the inference plan cannot
/// run (named in the message).
///
/// ```
/// use fasterai_runtime::compress::sparsify::{input_norms, ActivationStat};
/// use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::model::Coupling;
/// # // What `#[derive(Compressible)]` (crate `fasterai`) writes for `struct Net { fc1: Linear<2, 2>, relu: ReLU, fc2: Linear<2, 1> }`:
/// # struct Net<E: Dtype = f32, D: Device<E> = Cpu> { fc1: Linear<2, 2, E, D>, fc2: Linear<2, 1, E, D> }
/// # impl TensorCollection<f32, Cpu> for Net {
/// #     type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields((Self::module("fc1", |s| &s.fc1, |s| &mut s.fc1), Self::module("fc2", |s| &s.fc2, |s| &mut s.fc2)), |(fc1, fc2)| Net { fc1, fc2 })
/// #     }
/// # }
/// # impl Compressible for Net {
/// #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 2 };
/// #     const LAYERS: &'static [LayerInfo] = &[
/// #         LayerInfo { name: "fc1", kind: LayerKindInfo::Linear { in_features: 2, out_features: 2, bias: true },
/// #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 6, macs: 4, tapped: false },
/// #         LayerInfo { name: "relu", kind: LayerKindInfo::Activation { name: "ReLU" },
/// #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 0, macs: 0, tapped: false },
/// #         LayerInfo { name: "fc2", kind: LayerKindInfo::Linear { in_features: 2, out_features: 1, bias: true },
/// #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 1 }, params: 3, macs: 2, tapped: false },
/// #     ];
/// #     const COUPLINGS: &'static [Coupling] = &[];
/// # }
/// let dev = Cpu::default();
/// let (mut fc1, mut fc2): (Linear<2, 2>, Linear<2, 1>) = (BuildModule::build(&dev), BuildModule::build(&dev));
/// fc1.weight = dev.tensor([[1.0, 0.0], [0.0, -1.0]]);
/// fc1.bias = dev.tensor([0.0, 0.0]);
/// fc2.weight = dev.tensor([[1.0, 1.0]]);
/// let model = Net { fc1, fc2 }; // fc1 → ReLU → fc2
/// // Two images: (3, 1) and (4, -2).
/// let norms = input_norms(&model, &[3.0, 1.0, 4.0, -2.0], 2, ActivationStat::L2Norm)?;
/// assert_eq!(norms[0].layer, "fc1"); // its input is the image: sqrt((9+16)/2), sqrt((1+4)/2)
/// assert_eq!(norms[0].values, [12.5f32.sqrt(), 2.5f32.sqrt()]);
/// // fc2 receives relu(fc1(x)): (3, 0) and (4, 2)
/// assert_eq!(norms[1].values, [12.5f32.sqrt(), 2.0f32.sqrt()]);
/// # Ok::<(), fasterai_runtime::compress::CompressError>(())
/// ```
pub fn input_norms<M>(
    model: &M,
    images: &[f32],
    n_images: usize,
    stat: ActivationStat,
) -> Result<Vec<InputNorm>, CompressError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let per_image = M::INPUT.numel();
    if n_images == 0 || images.is_empty() {
        return Err(CompressError::NoCalibrationData);
    }
    if images.len() != n_images * per_image {
        return Err(calibration_failed(DeployError::BatchLength {
            what: "calibration set",
            images: n_images,
            per_image,
            found: images.len(),
        }));
    }
    let mut plan = accelerate(model).map_err(calibration_failed)?;
    let nodes: Vec<_> = plan.nodes().copied().collect();
    let mut stats: Vec<Option<ActivationStats>> =
        nodes.iter().map(|n| n.has_weights().then(|| ActivationStats::new(stat))).collect();
    let shapes: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| match n.input {
            ShapeInfo::Chw { c, h, w } if matches!(n.op, crate::deploy::graph::Op::Conv { .. }) => vec![1, c, h, w],
            other => vec![1, other.numel()],
        })
        .collect();
    let mut failure: Option<CompressError> = None;
    for image in images.chunks_exact(per_image) {
        plan.run_observing_inputs(image, |index, input| {
            if let Some(s) = &mut stats[index] {
                if let Err(e) = s.add_batch(input, &shapes[index]) {
                    failure.get_or_insert(e);
                }
            }
            Ok(())
        })
        .map_err(calibration_failed)?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    nodes
        .iter()
        .zip(&stats)
        .filter_map(|(node, s)| s.as_ref().map(|s| (node.layer, s)))
        .map(|(layer, s)| Ok(InputNorm { layer, values: s.finish()? }))
        .collect()
}

fn calibration_failed(e: DeployError) -> CompressError {
    CompressError::Calibration { reason: e.to_string() }
}

/// A set of calibration images owned by a [`Sparsifier`](super::Sparsifier): `n` images, one
/// after the other. Its `Debug` shows the count only.
///
/// ```
/// use fasterai_runtime::compress::sparsify::CalibrationImages;
/// let set = CalibrationImages::new(&[0.0; 8], 2); // two images of 4 values
/// assert_eq!((set.len(), set.images().len()), (2, 8));
/// assert_eq!(format!("{set:?}"), "CalibrationImages { n_images: 2, .. }");
/// ```
#[derive(Clone, PartialEq)]
pub struct CalibrationImages {
    images: Vec<f32>,
    n_images: usize,
}

impl CalibrationImages {
    /// `n_images` images, one after the other (checked against the model when they are used).
    pub fn new(images: &[f32], n_images: usize) -> Self {
        Self { images: images.to_vec(), n_images }
    }

    /// The pixels of every image.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.n_images
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.n_images == 0
    }

    /// [`input_norms`] of `model` on these images.
    pub fn norms<M>(&self, model: &M, stat: ActivationStat) -> Result<Vec<InputNorm>, CompressError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        input_norms(model, &self.images, self.n_images, stat)
    }
}

impl std::fmt::Debug for CalibrationImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalibrationImages").field("n_images", &self.n_images).finish_non_exhaustive()
    }
}

/// The last `capacity` training batches seen, the calibration set of
/// [`SparsifyCallback`](super::SparsifyCallback) under an activation criterion.
///
/// ```
/// use fasterai_runtime::compress::sparsify::CalibrationWindow;
/// use std::num::NonZeroUsize;
/// let mut window = CalibrationWindow::new(NonZeroUsize::new(2).unwrap());
/// window.push(&[1.0, 2.0], 2);
/// window.push(&[3.0], 1);
/// window.push(&[4.0, 5.0], 2); // the first batch leaves
/// let set = window.images().unwrap();
/// assert_eq!((set.images(), set.len()), (&[3.0, 4.0, 5.0][..], 3));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationWindow {
    capacity: NonZeroUsize,
    batches: VecDeque<(Vec<f32>, usize)>,
}

impl CalibrationWindow {
    /// The number of batches fasterai calibrates on by default.
    pub const DEFAULT_BATCHES: NonZeroUsize = match NonZeroUsize::new(5) {
        Some(n) => n,
        None => unreachable!(),
    };

    /// An empty window keeping up to `capacity` batches.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self { capacity, batches: VecDeque::with_capacity(capacity.get()) }
    }

    /// The batches it keeps at most.
    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    /// Adds a batch of `n_images` images, dropping the oldest beyond the capacity.
    pub fn push(&mut self, images: &[f32], n_images: usize) {
        if self.batches.len() == self.capacity.get() {
            self.batches.pop_front();
        }
        self.batches.push_back((images.to_vec(), n_images));
    }

    /// Forgets every batch (a new fit).
    pub fn clear(&mut self) {
        self.batches.clear();
    }

    /// The batches kept, as one set; `None` before the first batch.
    pub fn images(&self) -> Option<CalibrationImages> {
        let n_images: usize = self.batches.iter().map(|(_, n)| n).sum();
        (n_images > 0).then(|| CalibrationImages {
            images: self.batches.iter().flat_map(|(v, _)| v.iter().copied()).collect(),
            n_images,
        })
    }
}
