//! # fasterai-runtime
//!
//! The run-time half of fasterai: CNN layers for dfdx on stable Rust, the CPU kernels behind them,
//! data loading, the learner, the compression passes and the measuring tools.
//!
//! Users normally depend on the facade crate `fasterai` and write `use fasterai::prelude::*;`.
//!
//! Layout, one concern per folder:
//! - [`nn`]: layers (dfdx modules): `Conv2D`, pooling, `Flatten`, re-exports of dfdx's layers.
//! - [`ops`]: the tape-aware custom ops behind those layers (forward + hand-written backward).
//! - [`kernels`]: the numeric loops (GEMM wrappers, im2col), each beside a plain reference version.
//! - [`data`]: datasets (the embedded digits set, MNIST/Fashion-MNIST IDX files) and loaders.
//! - [`learn`]: the learner (fit, one-cycle, callbacks, metrics).
//! - [`measure`]: parameter count, size on disk, CPU latency, MACs, reports.
//! - [`compress`]: the compression passes (sparsify, distill; structural: `fold`, `factorize`, `prune`).
#![warn(missing_docs)]

pub mod compress;
pub mod data;
pub mod error;
pub mod kernels;
pub mod learn;
pub mod measure;
pub mod model;
pub mod nn;
pub mod ops;
pub mod prelude;
pub mod quant;
pub mod runner;
pub mod units;

pub use dfdx;
pub use error::{Error, Result};
mod fsutil;
#[cfg(test)]
mod test_support;
mod safetensors_file;
pub mod deploy;
