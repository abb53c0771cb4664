//! Everything a user needs for `use fasterai::prelude::*;`.
//!
//! One `pub use` line per item group; add lines, do not reorder others.
//! dfdx's prelude comes in whole (tensors, ops, optimizers); the names defined here shadow dfdx's
//! where both exist (our `Conv2D`, `BatchNorm2D`, `ReLU`, ... are the stable, fast ones).

pub use dfdx::prelude::*;
pub use crate::nn::{BatchNorm1D, BatchNorm2D, Dropout, Linear, ReLU, UnbiasedLinear};
pub use crate::error::{Error, Result};
pub use crate::units::{Ratio, Sparsity, UnitError};
pub use crate::data::{digits, fashion_mnist_dir, idx_dir, mnist_dir, Normalization, ValidSplit};
pub use crate::measure::{cpu_latency, model_size, model_size_in_memory, num_params, LatencyOptions, Macs, Report, ReportRow};
pub use crate::learn::{
    Accuracy, Callback, Context, Control, EpochRecord, Fraction, History, Learner, LearnError, LrSchedule, Metric,
    OneCycle, OptimizerConfig, Output,
};
pub use crate::nn::{AdaptiveAvgPool2D, AvgPool2D, Flatten, FlattenTo, GlobalAvgPool, MaxPool2D};
pub use crate::nn::{Conv2D, UnbiasedConv2D};
pub use crate::nn::{load_weights, save_weights};
pub use crate::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
pub use crate::units::Energy;
pub use crate::compress::prune::{PrunePlan, Ranking};
pub use crate::compress::sparsify::{LayerChoice, LotteryTicket, Schedule, Sparsifier, SparsifyCallback};
pub use crate::compress::prune::PruneCallback;
pub use crate::units::LossWeight;
pub use crate::compress::distill::{DistillLoss, DistillTerms, KnowledgeDistillation};
pub use crate::compress::quantize::{QatError, QuantizeCallback};
pub use crate::compress::sensitivity::{analyze_learner, targets_for_budget, BudgetOptions, LayerSensitivity, LayerTarget, Perturbation};
pub use crate::deploy::{accelerate, quantize_static, Accelerated, DeployError, Int8Model, ObserverKind, QuantizeOptions};
pub use crate::deploy::quantize_dynamic;
pub use crate::model::{Tap, TapInfo, TappedForward};
pub use crate::compress::distill::{FeaturePairs, OnFeatures};
