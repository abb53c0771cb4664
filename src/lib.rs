//! # fasterai
//!
//! Make neural networks smaller and faster in Rust: distill, sparsify, prune, fold batch norms,
//! factorize, quantize to int8 and accelerate, with every structural rewiring checked by the compiler.
//!
//! Start with `use fasterai::prelude::*;`.
#![warn(missing_docs)]

pub use fasterai_runtime::*;
/// `#[derive(Compressible)]`: shapes computed and checked at compile time (see the README).
pub use fasterai_macros::Compressible;
/// The words of `compress!` blocks (stages, options, criteria, schedules, losses, ...), shared by
/// the macros and the run time.
pub use fasterai_vocab as vocab;

/// Everything a user needs in scope.
pub mod prelude {
    pub use fasterai_runtime::prelude::*;
    pub use fasterai_macros::Compressible;
    pub use fasterai_macros::compress;
}

/// Items the generated code refers to by absolute path. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use fasterai_runtime::dfdx;
    pub use fasterai_runtime::dfdx::nn::{BuildOnDevice, Module, ModuleMut, ModuleVisitor, TensorCollection};
    pub use fasterai_runtime::dfdx::shapes::{Const, Dtype};
    pub use fasterai_runtime::dfdx::tensor::{Cpu, NoneTape, OwnedTape, Tensor, WithEmptyTape};
    pub use fasterai_runtime::dfdx::tensor_ops::Device;
    pub use fasterai_runtime::model::generated::{realize, same_type, visits_f32_cpu, IntoLayerError};
    pub use fasterai_runtime::model::generated::{assert_layer, assert_model};
    pub use fasterai_runtime::prelude as layers;
    pub use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
    pub use fasterai_runtime::model::{InferTapped, Tap, TapInfo, TappedForward, TrainTapped};
    pub use fasterai_runtime::nn::NnError;
    pub use fasterai_runtime::ops::batch_norm2d::{batch_norm2d_train, Activation as BnActivation};
    pub use fasterai_macros::__compress_with_model as compress_with_model;
    pub use fasterai_runtime::compress::prune::{
        select_batchnorm1d, select_batchnorm2d, select_conv_in, select_conv_out, select_conv_weight_out,
        select_linear_in, select_linear_out, PrunePlan,
    };
    pub use fasterai_runtime::compress::{PruneError, StructError};
    pub use fasterai_runtime::compress::prune::FromPrunePlan;
    pub use fasterai_runtime::compress::runner::{parse_stages, ArgValue, Compressed, Runner, StageArg, StageSpec};
    pub use fasterai_runtime::data::DataLoaders;
    pub use fasterai_runtime::learn::Output;
    pub use fasterai_runtime::Error;
    pub use fasterai_runtime::compress::fold::{fold_conv_bn, fold_linear_bn};
    pub use fasterai_runtime::compress::factorize::{factorize_linear, factorize_linear_energy};
}
