//! The learner: a model, its data, an optimizer, metrics and callbacks; evaluation and prediction.

use std::sync::Arc;

use dfdx::prelude::{AsArray as _, Axis, Const, Cpu, Module, OwnedTape, Tensor};

use super::metric::argmax_rows;
use super::optimizer::LiveOptimizer;
use super::{
    cross_entropy, AccuracyMetric, BatchInput, Callback, Classifier, Fraction, LearnError, Metric, MetricValue,
    OptimizerConfig, Output,
};
use crate::data::{Batch, DataLoaders};
use crate::model::{Tap, TappedForward};
use crate::nn::NnError;

/// The training forward that also returns the model's taps, as [`Learner::with_taps`] stores it.
pub(crate) type TappedTrainForward<M, X, const K: usize> = fn(
    &mut M,
    Tensor<X, f32, Cpu, OwnedTape<f32, Cpu>>,
) -> Result<
    (Tensor<(usize, Const<K>), f32, Cpu, OwnedTape<f32, Cpu>>, Vec<Tap<OwnedTape<f32, Cpu>>>),
    NnError,
>;

/// Trains and evaluates a classifier `M` that takes batches of shape `X` and gives `K` logits.
///
/// `X` is the model's batch shape ([`BatchInput`]): `(usize, Const<C>, Const<H>, Const<W>)` for
/// fully typed image models, `(usize, Const<C>, usize, usize)` for models built on this crate's
/// convolutions, `(usize, Const<N>)` for MLPs. `K` is the number of classes (logits).
///
/// Build it with [`Learner::new`] (fastai's Adam, accuracy, the table printed), adjust it with the
/// `with_*` methods, then call [`Learner::fit_one_cycle`] or [`Learner::fit`].
///
/// Reproducibility: the learner's device is seeded from the data's seed (it drives dropout), the
/// batches are shuffled from the same seed, and the model's initial weights come from the device
/// it was built on (use `Cpu::seed_from_u64`). Same seeds, same history.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::dfdx::prelude::Const;
/// use fasterai_runtime::data::{DataLoaders, Dataset};
///
/// // Two classes of 2-d points: class 1 when x + y > 0.
/// let points: Vec<[f32; 2]> = (0..64).map(|i| [((i * 7) % 17) as f32 / 8.0 - 1.0, ((i * 5) % 13) as f32 / 6.0 - 1.0]).collect();
/// let labels: Vec<usize> = points.iter().map(|p| usize::from(p[0] + p[1] > 0.0)).collect();
/// let set = Dataset::new(points.concat(), labels, [1, 1, 2], 2).unwrap();
/// let data = DataLoaders::new(set.clone(), set, 16, 0);
///
/// let model = Linear::<2, 2>::build(&Cpu::seed_from_u64(0));
/// let mut learn: Learner<_, (usize, Const<2>), 2> = Learner::new(model, data).with_output(Output::Quiet);
/// let history = learn.fit_one_cycle(8, 1e-1).unwrap();
/// assert_eq!(history.epochs.len(), 8);
/// assert!(learn.validate().unwrap().accuracy.get() > 0.9);
/// let prediction = learn.predict(&[2.0, 2.0, -2.0, -2.0]).unwrap();
/// assert_eq!(prediction.classes, [1, 0]);
/// ```
pub struct Learner<M, X: BatchInput, const K: usize> {
    pub(crate) model: M,
    pub(crate) data: Arc<DataLoaders>,
    pub(crate) device: Cpu,
    pub(crate) optimizer: LiveOptimizer<M>,
    pub(crate) metrics: Vec<Box<dyn Metric>>,
    pub(crate) callbacks: Vec<Box<dyn Callback<M, X, K>>>,
    pub(crate) output: Output,
    /// Set by [`Learner::with_taps`]: the training step runs this forward and hands the taps to callbacks.
    pub(crate) tapped: Option<TappedTrainForward<M, X, K>>,
}

/// The model's loss and metrics on the validation set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Validation {
    /// Mean cross-entropy, each sample weighing the same.
    pub loss: f32,
    /// Top-1 accuracy.
    pub accuracy: Fraction,
    /// The learner's extra metrics, in order.
    pub metrics: Vec<MetricValue>,
}

/// Class predictions for a set of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most probable class of each image.
    pub classes: Vec<usize>,
    /// Softmax probabilities, one row of `K` per image.
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The probabilities of image `i`, one per class; `None` past the end.
    pub fn probabilities_of(&self, i: usize) -> Option<&[f32]> {
        let k = self.probabilities.len() / self.classes.len().max(1);
        self.probabilities.get(i * k..(i + 1) * k)
    }
}

impl<M: Classifier<X, K>, X: BatchInput, const K: usize> Learner<M, X, K> {
    /// A learner with fastai's Adam ([`OptimizerConfig::fastai_adam`]), accuracy, no callbacks,
    /// and [`Output::Auto`].
    ///
    /// `data` is a [`DataLoaders`] or an `Arc` of one: several learners (the stages of a
    /// compression pipeline, a teacher and its student) can share one copy of the images.
    pub fn new(model: M, data: impl Into<Arc<DataLoaders>>) -> Self {
        let data = data.into();
        let optimizer = LiveOptimizer::new(&model, OptimizerConfig::default());
        Self {
            device: Cpu::seed_from_u64(data.seed),
            model,
            data,
            optimizer,
            metrics: Vec::new(),
            callbacks: Vec::new(),
            output: Output::Auto,
            tapped: None,
        }
    }

    /// Trains with this optimizer from now on (its state starts afresh).
    pub fn with_optimizer(mut self, config: OptimizerConfig) -> Self {
        self.optimizer = LiveOptimizer::new(&self.model, config);
        self
    }

    /// Adds a metric column after accuracy.
    pub fn with_metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Adds a callback that runs in every fit, after those added before it. The learner owns it;
    /// a callback that borrows (a teacher held by reference) or whose state you want to read
    /// afterwards goes to [`Learner::fit_with`] instead.
    pub fn with_callback(mut self, callback: impl Callback<M, X, K> + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Sets what the learner prints.
    pub fn with_output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// Whether training hands the model's `#[tap]` activations to callbacks ([`Learner::with_taps`]).
    pub fn has_taps(&self) -> bool {
        self.tapped.is_some()
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, to change it between fits.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The data.
    pub fn data(&self) -> &DataLoaders {
        &self.data
    }

    /// The shared handle on the data, to build another learner on the same images.
    pub fn shared_data(&self) -> Arc<DataLoaders> {
        Arc::clone(&self.data)
    }

    /// The optimizer's configuration.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        self.optimizer.config()
    }

    /// The device the learner builds its batches on.
    pub fn device(&self) -> &Cpu {
        &self.device
    }

    /// Loss, accuracy and metrics on the validation set, in evaluation mode (no tape: BatchNorm
    /// uses its running statistics, Dropout is off), batch by batch.
    pub fn validate(&mut self) -> Result<Validation, LearnError> {
        if self.data.valid.is_empty() {
            return Err(LearnError::EmptyDataset { which: "validation" });
        }
        let mut accuracy = AccuracyMetric::default();
        self.metrics.iter_mut().for_each(|m| m.reset());
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        for Batch { images, labels, shape } in self.data.valid_batches() {
            let input = X::from_images(&self.device, images, shape)?;
            let logits = Module::try_forward(&self.model, input).map_err(|e| LearnError::Model(Box::new(e)))?;
            let values = logits.as_vec();
            accuracy.accumulate(&values, &labels);
            self.metrics.iter_mut().for_each(|m| m.accumulate(&values, &labels));
            let loss = cross_entropy(logits, &labels)?.array();
            loss_sum += f64::from(loss) * labels.len() as f64;
            seen += labels.len();
        }
        Ok(Validation {
            loss: (loss_sum / seen as f64) as f32,
            accuracy: accuracy.fraction(),
            metrics: self
                .metrics
                .iter()
                .map(|m| MetricValue { name: m.name().to_string(), value: m.value() })
                .collect(),
        })
    }

    /// Classes and probabilities for `images`, laid out like the data's (`C×H×W` each, one after
    /// the other), in evaluation mode and in batches of the data's batch size.
    pub fn predict(&self, images: &[f32]) -> Result<Prediction, LearnError> {
        let shape = self.data.train.shape();
        let per_image: usize = shape.iter().product();
        if per_image == 0 || !images.len().is_multiple_of(per_image) {
            return Err(LearnError::RaggedImages { values: images.len(), per_image });
        }
        let mut probabilities = Vec::with_capacity(images.len() / per_image * K);
        for chunk in images.chunks(per_image * self.data.batch_size) {
            let input = X::from_images(&self.device, chunk.to_vec(), shape)?;
            let logits = Module::try_forward(&self.model, input).map_err(|e| LearnError::Model(Box::new(e)))?;
            probabilities.extend(logits.try_softmax::<Axis<1>>()?.as_vec());
        }
        let classes = argmax_rows(&probabilities, K).collect();
        Ok(Prediction { classes, probabilities })
    }
}

impl<M, X: BatchInput, const K: usize> Learner<M, X, K>
where
    M: Classifier<X, K> + TappedForward<Input = X, Output = (usize, Const<K>)>,
{
    /// Trains with the model's tapped forward ([`TappedForward::forward_train_tapped`]), so callbacks
    /// see its `#[tap]` activations through [`crate::learn::Forward::tap`]: feature-map distillation
    /// needs this. Without it the training step runs the plain forward and keeps no activation.
    ///
    /// A derived model with `#[tap]` fields implements [`TappedForward`]; here one written by hand
    /// (a linear classifier whose logits are also its tap):
    /// ```
    /// use fasterai_runtime::prelude::*;
    /// use fasterai_runtime::data::{DataLoaders, Dataset};
    /// # use fasterai_runtime::model::{Coupling, InferTapped, ShapeInfo, TrainTapped};
    /// # use fasterai_runtime::nn::NnError;
    /// type Flat2 = (usize, Const<2>);
    /// # #[derive(Clone)]
    /// # struct Lin<E: Dtype = f32, D: Device<E> = Cpu>(Linear<2, 2, E, D>);
    /// # impl TensorCollection<f32, Cpu> for Lin {
    /// #     type To<E2: Dtype, D2: Device<E2>> = Lin<E2, D2>;
    /// #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Lin<V::E2, V::D2>>, V::Err> {
    /// #         v.visit_fields(Self::module("0", |s| &s.0, |s| &mut s.0), Lin)
    /// #     }
    /// # }
    /// # impl<T: Tape<f32, Cpu>> Module<Tensor<Flat2, f32, Cpu, T>> for Lin {
    /// #     type Output = Tensor<Flat2, f32, Cpu, T>;
    /// #     type Error = CpuError;
    /// #     fn try_forward(&self, x: Tensor<Flat2, f32, Cpu, T>) -> Result<Self::Output, CpuError> { self.0.try_forward(x) }
    /// # }
    /// # impl NonMutableModule for Lin {}
    /// # impl Compressible for Lin {
    /// #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 2 };
    /// #     const LAYERS: &'static [LayerInfo] = &[];
    /// #     const COUPLINGS: &'static [Coupling] = &[];
    /// # }
    /// impl TappedForward for Lin {
    ///     type Input = Flat2;
    ///     type Output = Flat2;
    ///     const TAPS: &'static [TapInfo] = &[TapInfo { name: "fc", shape: ShapeInfo::Flat { n: 2 } }];
    ///     fn forward_train_tapped(&mut self, x: Tensor<Flat2, f32, Cpu, OwnedTape<f32, Cpu>>) -> Result<TrainTapped<Self>, NnError> {
    ///         let y = self.0.try_forward(x)?;
    ///         let tap = Tap::from_output("fc", y.with_empty_tape())?;
    ///         Ok((y, vec![tap]))
    ///     }
    ///     fn forward_tapped(&self, x: Tensor<Flat2, f32, Cpu>) -> Result<InferTapped<Self>, NnError> {
    ///         let y = self.0.try_forward(x)?;
    ///         Ok((y.clone(), vec![Tap::from_output("fc", y)?]))
    ///     }
    /// }
    ///
    /// let set = Dataset::new(vec![1.0, 0.0, 0.0, 1.0], vec![0, 1], [1, 1, 2], 2).unwrap();
    /// let model = Lin(Linear::build(&Cpu::seed_from_u64(0)));
    /// let mut learn: Learner<_, Flat2, 2> =
    ///     Learner::new(model, DataLoaders::new(set.clone(), set, 2, 0)).with_output(Output::Quiet).with_taps();
    /// assert!(learn.has_taps());
    /// learn.fit(1, 1e-2).unwrap();
    /// ```
    pub fn with_taps(mut self) -> Self {
        self.tapped = Some(<M as TappedForward>::forward_train_tapped);
        self
    }
}
