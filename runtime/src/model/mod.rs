//! What `#[derive(Compressible)]` tells the run time about a model.
//!
//! The derive computes every layer's shapes and parameter count at expansion time and records them,
//! together with the coupling structure that structured pruning needs, as constants of the
//! [`Compressible`] trait. Compression passes, reports and the measuring tools read these constants
//! instead of tracing the model.
//!
//! [`load_torch`] loads a PyTorch `state_dict` saved as safetensors, mapping PyTorch's names to the
//! fields through [`Compressible::TORCH_NAMES`].
//!
//! [`generated`] holds the few helpers the generated forward code calls; it is not a public API.

mod describe;
mod tensors;
mod tapped;
mod torch;
#[doc(hidden)]
pub mod generated;

pub use describe::{ChannelGroup, Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo, TorchName};
pub use tensors::{read_tensor, read_tensors, tensor_names, write_tensor, write_tensors, NamedTensor, TensorAccessError};
pub use tapped::{FeatureMap, InferTapped, Tap, TapInfo, TappedForward, TrainTapped};
pub use torch::{load_torch, torch_tensors, TorchError, TorchImport, TorchMismatch, TorchTensor};
