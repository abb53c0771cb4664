//! Everything a user needs for `use fasterai::prelude::*;`, grouped by what they do.
//!
//! Tensors, shapes, devices, tensor ops, losses and optimizers are dfdx's own (their traits bring
//! methods such as `sum`, `relu` and `backward`). dfdx's layer builders are left out, so every
//! layer name here (`Conv2D`, `BatchNorm2D`, `ReLU`, ...) is this crate's and nothing is shadowed.
//!
//! ```
//! use fasterai_runtime::prelude::*;
//! let dev = Cpu::default();
//! let conv: Conv2D<1, 4, 3, 1, 1> = dev.build_module::<Conv2D<1, 4, 3, 1, 1>, f32>();
//! let x: Tensor<(usize, Const<1>, usize, usize), f32, Cpu> = dev.zeros_like(&(2, Const, 8, 8));
//! assert_eq!(conv.try_forward(x)?.shape().2, 8);
//! assert_eq!(num_params(&conv), 4 * 9 + 4);
//! # Ok::<(), NnError>(())
//! ```

// Tensors and their ops (dfdx).
pub use dfdx::losses::*;
pub use dfdx::optim::{Adam, Optimizer, OptimizerUpdateError, RMSprop, Sgd, UnusedTensors};
pub use dfdx::shapes::*;
pub use dfdx::tensor::*;
pub use dfdx::tensor_ops::*;
// Module traits (dfdx): build, run, walk a model's tensors, save and load them.
pub use dfdx::nn::{
    BuildModule, BuildOnDevice, DeviceBuildExt, LoadFromSafetensors, Module, ModuleMut, ModuleVisitor, NonMutableModule, NumParams, ResetParams,
    SaveToSafetensors, TensorCollection, ZeroGrads,
};

// Build: layers, the derive's trait and what it describes.
pub use crate::model::{ChannelGroup, Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo, Tap, TapInfo, TappedForward};
pub use crate::model::{load_torch, TorchError};
pub use crate::nn::{load_weights, save_weights, NnError};
pub use crate::nn::{AdaptiveAvgPool2D, AvgPool2D, Flatten, FlattenTo, GlobalAvgPool, MaxPool2D};
pub use crate::nn::{BatchNorm1D, BatchNorm2D, Dropout, Linear, ReLU, UnbiasedLinear};
pub use crate::nn::{Conv2D, UnbiasedConv2D};
// dfdx's activations the derive knows besides our `ReLU`.
#[allow(deprecated)] // dfdx deprecates `GeLU` for `FastGeLU`; the derive still accepts both names.
pub use dfdx::nn::modules::{AccurateGeLU, FastGeLU, GeLU, Sigmoid, Tanh};

// Train: data and the learner.
pub use crate::data::{digits, fashion_mnist_dir, idx_dir, mnist_dir, Normalization, ValidSplit};
pub use crate::learn::{
    AccuracyMetric, Callback, Context, Control, EpochRecord, Fraction, History, LearnError, Learner, LrSchedule,
    Metric, OneCycle, OptimizerConfig, Output,
};

// Compress: the techniques' callbacks and plans.
pub use crate::compress::distill::{DistillLoss, DistillTerms, FeaturePairs, KnowledgeDistillation, OnFeatures};
pub use crate::compress::prune::{PruneCallback, PrunePlan, Ranking};
pub use crate::compress::quantize::{QatError, QuantizeCallback};
pub use crate::compress::sensitivity::{
    analyze_learner, targets_for_budget, BudgetOptions, LayerSensitivity, LayerTarget, Perturbation,
};
pub use crate::compress::sparsify::{LayerChoice, LotteryTicket, Sparsifier, SparsifyCallback, SparsitySchedule};

// Deploy: the frozen fp32 and int8 plans.
pub use crate::deploy::{
    accelerate, quantize_dynamic, quantize_static, Accelerated, DeployError, Int8Model, ObserverKind, QuantizeOptions,
};

// Measure.
pub use crate::measure::{
    cpu_latency, model_size, model_size_in_memory, num_params, LatencyOptions, Macs, Report, ReportRow,
};

// Units and errors.
pub use crate::error::{Error, Result};
pub use crate::units::{Energy, LossWeight, Ratio, Sparsity, UnitError};
