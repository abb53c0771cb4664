//! # fasterai
//!
//! Make neural networks smaller and faster in Rust: distill, sparsify, prune, fold batch norms,
//! factorize, quantize to int8 and accelerate, with every structural rewiring checked by the compiler.
//!
//! Start with `use fasterai::prelude::*;`. The modules follow what a user does:
//!
//! | to … | look in |
//! |---|---|
//! | build a model | [`nn`] (layers), [`model`] (the `Compressible` trait the derive implements), [`Compressible`](macro@Compressible) and [`compress!`](macro@compress) |
//! | load its PyTorch weights | [`model::load_torch`] (a `state_dict` saved as safetensors, under torchvision's names) |
//! | train it | [`data`], [`learn`] |
//! | compress it | [`compress`](mod@compress) (distill, sparsify, prune, fold, factorize, quantize-aware training) |
//! | deploy it | [`deploy`] (frozen fp32 and int8 plans), [`quant`] (the int8 arithmetic they follow) |
//! | measure it | [`measure`] |
//! | write your own layers or plans | [`internals`] (the CPU kernels and tape ops) |
//!
//! ```
//! use fasterai::prelude::*;
//! let s = Sparsity::from_percent(50.0)?;
//! assert_eq!(s.fraction(), 0.5);
//! # Ok::<(), fasterai::Error>(())
//! ```
#![warn(missing_docs)]

pub use fasterai_runtime::{compress, data, deploy, dfdx, learn, model, nn, quant, units};
pub use fasterai_runtime::{Error, Result};

/// `#[derive(Compressible)]`: shapes computed and checked at compile time (see the README).
pub use fasterai_macros::Compressible;
/// `compress! { pub New = Model { stage(..), .. } }`: a compressed model type and the code that makes it.
pub use fasterai_macros::compress;

/// Parameters, size on disk, CPU latency, MACs, and the report of every stage.
pub mod measure {
    pub use fasterai_runtime::measure::*;
    pub use fasterai_runtime::runner::{
        measure_plan, measure_stage, single_image_latency, StageMeasureError, STAGE_LATENCY_RUNS,
    };
}

/// The building blocks under the layers and plans, for those who write their own: the CPU kernels
/// (chosen at run time from a table), the tape ops (forward and hand-written backward), and the
/// runner that `compress!` generates calls to.
pub mod internals {
    pub use fasterai_runtime::{kernels, ops, runner};
}

/// The words of `compress!` blocks (stages, options, criteria, schedules, losses, ...), shared by
/// the macros and the run time.
pub use fasterai_vocab as vocab;

/// Everything a user needs in scope.
pub mod prelude {
    pub use fasterai_macros::compress;
    pub use fasterai_macros::Compressible;
    pub use fasterai_runtime::prelude::*;
}

/// Items the generated code refers to by absolute path. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use fasterai_macros::__compress_with_model as compress_with_model;
    pub use fasterai_macros::__derive_with_blocks as derive_with_blocks;
    pub use fasterai_runtime::compress::factorize::{factorize_linear, factorize_linear_energy};
    pub use fasterai_runtime::compress::fold::{fold_conv_bn, fold_linear_bn};
    pub use fasterai_runtime::compress::prune::FromPrunePlan;
    pub use fasterai_runtime::compress::prune::{
        select_batchnorm1d, select_batchnorm2d, select_conv_in, select_conv_out, select_conv_weight_out,
        select_linear_in, select_linear_out, PrunePlan,
    };
    pub use fasterai_runtime::compress::{PruneError, StructError};
    pub use fasterai_runtime::data::DataLoaders;
    pub use fasterai_runtime::dfdx;
    pub use fasterai_runtime::dfdx::nn::{BuildOnDevice, Module, ModuleMut, ModuleVisitor, TensorCollection};
    pub use fasterai_runtime::dfdx::shapes::{Const, Dtype};
    pub use fasterai_runtime::dfdx::tensor::{Cpu, NoneTape, OwnedTape, Tensor, WithEmptyTape};
    pub use fasterai_runtime::dfdx::tensor_ops::Device;
    pub use fasterai_runtime::learn::Output;
    pub use fasterai_runtime::model::generated::{assert_layer, assert_model};
    pub use fasterai_runtime::model::generated::{realize, residual_add, same_type, visits_f32_cpu, IntoLayerError};
    pub use fasterai_runtime::model::{ChannelGroup, Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo, TorchName};
    pub use fasterai_runtime::model::{InferTapped, Tap, TapInfo, TappedForward, TrainTapped};
    pub use fasterai_runtime::nn::{batch_norm2d_infer, batch_norm2d_train, InferLinear};
    pub use fasterai_runtime::nn::NnError;
    pub use fasterai_runtime::ops::batch_norm2d::Activation as BnActivation;
    /// The layer types the derive binds each field to (`assert_layer`).
    pub use fasterai_runtime::prelude as layers;
    pub use fasterai_runtime::runner::{parse_stages, ArgValue, Compressed, Runner, StageArg, StageSpec};
    pub use fasterai_runtime::Error;
}
