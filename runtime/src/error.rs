//! The crate-wide error type. Each concern has its own error enum beside its code; this one wraps them
//! so that `?` works across concerns.

/// Any error fasterai can return. Every variant says what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A layer could not run or load (see [`crate::nn::NnError`]).
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    /// A dataset could not be read (see [`crate::data::DataError`]).
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Training failed (see [`crate::learn::LearnError`]).
    #[error(transparent)]
    Learn(#[from] crate::learn::LearnError),
    /// A sparsity or ratio was out of range (see [`crate::units::UnitError`]).
    #[error(transparent)]
    Unit(#[from] crate::units::UnitError),
    /// A measurement failed (see [`crate::measure::MeasureError`]).
    #[error(transparent)]
    Measure(#[from] crate::measure::MeasureError),
    /// A compression pass got bad input (see [`crate::compress::CompressError`]).
    #[error(transparent)]
    Compress(#[from] crate::compress::CompressError),
    /// Quantization failed (see [`crate::quant::QuantError`]).
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    /// A structural pass (fold, factorize, prune) failed (see [`crate::compress::StructError`]).
    #[error(transparent)]
    Struct(#[from] crate::compress::StructError),
    /// A named tensor was missing or given the wrong number of values (see [`crate::model::TensorAccessError`]).
    #[error(transparent)]
    TensorAccess(#[from] crate::model::TensorAccessError),
    /// A PyTorch `state_dict` could not be loaded (see [`crate::model::TorchError`]).
    #[error(transparent)]
    Torch(#[from] crate::model::TorchError),
    /// A stage's model could not be measured (see [`crate::runner::StageMeasureError`]).
    #[error(transparent)]
    StageMeasure(#[from] crate::runner::StageMeasureError),
    /// Quantization-aware training could not quantize or restore a weight (see [`crate::compress::quantize::QatError`]).
    #[error(transparent)]
    Qat(#[from] crate::compress::quantize::QatError),
    /// A sensitivity analysis or a sparsity budget failed (see [`crate::compress::sensitivity::SensitivityError`]).
    #[error(transparent)]
    Sensitivity(#[from] crate::compress::sensitivity::SensitivityError),
    /// An inference plan (accelerated fp32 or int8) could not be built, run, saved or loaded (see [`crate::deploy::DeployError`]).
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
}

impl From<crate::compress::FoldError> for crate::Error {
    fn from(e: crate::compress::FoldError) -> Self {
        crate::compress::StructError::from(e).into()
    }
}

impl From<crate::compress::FactorizeError> for crate::Error {
    fn from(e: crate::compress::FactorizeError) -> Self {
        crate::compress::StructError::from(e).into()
    }
}

impl From<crate::compress::PruneError> for crate::Error {
    fn from(e: crate::compress::PruneError) -> Self {
        crate::compress::StructError::from(e).into()
    }
}

/// `Result` with fasterai's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
