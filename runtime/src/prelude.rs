//! Everything a user needs for `use fasterai::prelude::*;`.
//!
//! One `pub use` line per item group; add lines, do not reorder others.

pub use dfdx::prelude::{
    AutoDevice, BuildModule, BuildOnDevice, Cpu, DeviceBuildExt, Module, ModuleMut, NoneTape,
    OwnedTape, Tape, Tensor, TensorCollection,
};
pub use crate::nn::{BatchNorm1D, BatchNorm2D, Dropout, Linear, ReLU, UnbiasedLinear};
pub use crate::error::{Error, Result};
pub use crate::data::{digits, fashion_mnist_dir, idx_dir, mnist_dir, Normalization, ValidSplit};
pub use crate::measure::{cpu_latency, model_size, model_size_in_memory, num_params, LatencyOptions, Macs, Report, ReportRow};
