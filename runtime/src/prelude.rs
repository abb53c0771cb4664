//! Everything a user needs for `use fasterai::prelude::*;`.
//!
//! One `pub use` line per item group; add lines, do not reorder others.

pub use dfdx::prelude::{
    AutoDevice, BuildModule, BuildOnDevice, Cpu, DeviceBuildExt, Module, ModuleMut, NoneTape,
    OwnedTape, Tape, Tensor, TensorCollection,
};
pub use crate::nn::{BatchNorm1D, BatchNorm2D, Dropout, Linear, ReLU, UnbiasedLinear};
pub use crate::error::{Error, Result};
pub use crate::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo};
