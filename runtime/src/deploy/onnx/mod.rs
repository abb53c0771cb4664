//! ONNX export of the frozen plans, so that other runtimes (ONNX Runtime, tract, ...) run the
//! compressed model, with standard operators only (the default domain, opset 13).
//!
//! - fp32: [`OnnxModel::fp32`] writes the graph of the fp32 plan of a model ([`accelerate`]):
//!   `Conv`, `Gemm`, `Relu`, `MaxPool`, `AveragePool`, `GlobalAveragePool`, `Flatten`, `Add`
//!   (residual blocks), with every BatchNorm folded into its conv or linear layer.
//! - int8: [`OnnxModel::int8`] (or [`Int8Model::export_onnx`]) writes an [`Int8Model`] with the
//!   integer operators `QuantizeLinear`, `QLinearConv`, `MatMulInteger`, `DequantizeLinear`, so the
//!   file's arithmetic is the plan's: the same `i8` weights, `i32` biases and `u8` grids, one rounding
//!   per requantization (the plan's is a fixed-point multiply, the file's an `f32` one; they can
//!   differ by one step on a tie). The operator per layer is listed in the `int8` module's source.
//!
//! The input is named `input` (`f32`, `batch × C × H × W`, the batch axis free), the output
//! `logits` (`f32`, `batch × classes`). Files are written through a temporary file renamed into
//! place: a reader never sees half a file, and a failed export leaves none.
//!
//! The fp32 export reads the model, not the plan: the plan's kernels keep their weights in their own
//! layouts (Winograd transforms among them), so the exporter folds the BatchNorms again, as
//! [`quantize_static`](crate::deploy::quantize_static) does.
//!
//! ```
//! use fasterai_runtime::deploy::onnx::OnnxModel;
//! use fasterai_runtime::deploy::{quantize_static, QuantizeOptions};
//! use fasterai_runtime::prelude::*;
//! # use fasterai_runtime::model::Coupling;
//! # // What `#[derive(Compressible)]` (crate `fasterai`) writes for `struct Net { fc: Linear<3, 2>, relu: ReLU }`:
//! # struct Net<E: Dtype = f32, D: Device<E> = Cpu> { fc: Linear<3, 2, E, D> }
//! # impl TensorCollection<f32, Cpu> for Net {
//! #     type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;
//! #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
//! #         v.visit_fields(Self::module("fc", |s| &s.fc, |s| &mut s.fc), |fc| Net { fc })
//! #     }
//! # }
//! # impl Compressible for Net {
//! #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
//! #     const LAYERS: &'static [LayerInfo] = &[
//! #         LayerInfo { name: "fc", kind: LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true },
//! #             input: ShapeInfo::Flat { n: 3 }, output: ShapeInfo::Flat { n: 2 }, params: 8, macs: 6, tapped: false },
//! #         LayerInfo { name: "relu", kind: LayerKindInfo::Activation { name: "ReLU" },
//! #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 0, macs: 0, tapped: false },
//! #     ];
//! #     const COUPLINGS: &'static [Coupling] = &[];
//! # }
//! let model = Net { fc: BuildModule::build(&Cpu::default()) }; // fc: Linear<3, 2> → ReLU
//! let dir = std::env::temp_dir().join(format!("doc-onnx-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//!
//! let fp32 = OnnxModel::fp32(&model)?;
//! assert_eq!(fp32.operators(), ["Gemm", "Identity", "Relu"]);
//! let size = fp32.save(dir.join("net.onnx"))?;
//! assert_eq!(size.0, std::fs::metadata(dir.join("net.onnx"))?.len());
//!
//! let calibration: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect(); // 10 images of 3
//! let int8 = quantize_static(&model, &calibration, 10, QuantizeOptions::default())?;
//! int8.export_onnx(dir.join("net-int8.onnx"))?;
//! assert!(OnnxModel::int8(&int8)?.operators().contains(&"MatMulInteger"));
//!
//! // A directory that does not exist is an error, and nothing is written.
//! let error = fp32.save(dir.join("missing").join("net.onnx")).unwrap_err();
//! assert!(error.to_string().contains("does not exist"), "{error}");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`accelerate`]: crate::deploy::accelerate()

mod builder;
mod fp32;
mod int8;
mod pooling;
pub mod proto;

use std::path::Path;

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;
use prost::Message;

use super::{DeployError, Int8Model};
use crate::measure::Bytes;
use crate::model::Compressible;

/// The operator set the files declare, of the default ONNX domain (per-axis `QuantizeLinear` and
/// `DequantizeLinear` need 13).
pub const OPSET: i64 = 13;

/// An ONNX model of a frozen plan, ready to be saved or handed to a runtime as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    proto: proto::ModelProto,
}

/// The last segment of a type's path: `SmallVgg` for `tests::support::models::SmallVgg`.
fn short_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl OnnxModel {
    /// The fp32 plan of `model` ([`accelerate`](crate::deploy::accelerate())'s graph and folded
    /// weights). Errors: a layer the plans cannot run (named), a tensor missing from the model.
    pub fn fp32<M>(model: &M) -> Result<Self, DeployError>
    where
        M: Compressible + TensorCollection<f32, Cpu>,
    {
        Ok(Self { proto: fp32::graph(model, short_name::<M>())? })
    }

    /// The int8 plan `model`, every integer of it.
    pub fn int8<M: Compressible>(model: &Int8Model<M>) -> Result<Self, DeployError> {
        Ok(Self { proto: int8::graph(model, short_name::<M>())? })
    }

    /// The bytes of the `.onnx` file (a serialized `ModelProto`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// The distinct operator types of the graph, sorted.
    pub fn operators(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = self.proto.graph.iter().flat_map(|g| &g.node).map(|n| n.op_type.as_str()).collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }

    /// The message itself, to inspect the graph.
    pub fn proto(&self) -> &proto::ModelProto {
        &self.proto
    }

    /// Writes the file to `path` atomically (a temporary file in the same directory, renamed into
    /// place) and returns its size. Errors: a directory that does not exist
    /// ([`DeployError::NoDirectory`]; nothing is written), or the write itself.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<Bytes, DeployError> {
        let path = path.as_ref();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(DeployError::NoDirectory { path: path.to_path_buf(), dir: dir.to_path_buf() });
        }
        let bytes = self.to_bytes();
        crate::fsutil::write_atomic(path, &bytes).map_err(|source| DeployError::Io { action: "write", path: path.to_path_buf(), source })?;
        Ok(Bytes(bytes.len() as u64))
    }
}

impl<M: Compressible> Int8Model<M> {
    /// Writes the plan to `path` as an ONNX file of standard integer operators (see
    /// [`crate::deploy::onnx`]) and returns its size; `OnnxModel::int8(self)?.save(path)`.
    pub fn export_onnx(&self, path: impl AsRef<Path>) -> Result<Bytes, DeployError> {
        OnnxModel::int8(self)?.save(path)
    }
}
