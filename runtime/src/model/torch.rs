//! Loading a PyTorch `state_dict` saved as safetensors into a derived model.
//!
//! PyTorch names a tensor by its module path (`features.0.weight`, `layer1.0.downsample.1.running_var`);
//! `#[derive(Compressible)]` records, for every layer, the prefix its tensors have there
//! ([`Compressible::TORCH_NAMES`]: the field's name, or its `#[torch = ".."]`, joined with dots through
//! `#[block]` fields). [`load_torch`] maps the file's names to ours through it, checks that every tensor
//! of the model is there with its shape and that the file holds nothing else (PyTorch's
//! `num_batches_tracked` counters are ignored), converts f16, bf16 and f64 to f32, and only then
//! writes: on any error the model is unchanged. Our own files keep our names (`conv1.weight`).
//!
//! The layouts agree, so nothing is transposed: a convolution's weight is `[out, in, kh, kw]` and a
//! linear layer's `[out, in]` in both; a batch norm's `weight`, `bias`, `running_mean` and
//! `running_var` are PyTorch's names (dfdx's `BatchNorm1D` calls its weight `scale`, mapped here).
//! A batch norm's `eps` is not in a `state_dict`; ours is PyTorch's default, 1e-5.

use std::path::{Path, PathBuf};

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

use super::describe::{Compressible, LayerKindInfo};
use super::tensors::{write_tensors, TensorAccessError};

/// One tensor of a model as a PyTorch `state_dict` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchTensor {
    /// Its key in the PyTorch file (`features.0.weight`).
    pub torch: String,
    /// Its name in the model and in our own files (`conv1.weight`).
    pub ours: String,
    /// Its shape, the same in both.
    pub shape: Vec<usize>,
}

/// What a PyTorch file and a model disagree on, one tensor at a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TorchMismatch {
    /// The model has a tensor the file lacks.
    #[error("`{torch}` (our `{ours}`, shape {expected:?}) is missing from the file")]
    Missing {
        /// The key the file should hold.
        torch: String,
        /// The model's tensor.
        ours: String,
        /// The model's shape.
        expected: Vec<usize>,
    },
    /// The file has a tensor the model has no place for.
    #[error("`{torch}` (shape {found:?}) in the file is no tensor of the model")]
    Extra {
        /// The file's key.
        torch: String,
        /// Its shape in the file.
        found: Vec<usize>,
    },
    /// The tensor is in both, with different shapes.
    #[error("`{torch}` has shape {found:?} in the file but our `{ours}` has shape {expected:?}")]
    Shape {
        /// The file's key.
        torch: String,
        /// The model's tensor.
        ours: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
}

/// Why a PyTorch file could not be loaded. The model is unchanged whatever the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorchError {
    /// The file could not be read.
    #[error("cannot read PyTorch weights {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file is not safetensors, or is truncated or corrupt.
    #[error(
        "PyTorch weights {path}: {message}; save the state_dict again with \
         `safetensors.torch.save_file(model.state_dict(), path)`"
    )]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, in words.
        message: String,
    },
    /// One tensor of the model is missing from the file (the only disagreement).
    #[error(
        "PyTorch weights {path}: tensor {mismatch}; check the layer's #[torch] name, or that the PyTorch module \
         has this layer"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The missing tensor ([`TorchMismatch::Missing`]).
        mismatch: TorchMismatch,
    },
    /// The file holds one tensor the model has no place for (the only disagreement).
    #[error(
        "PyTorch weights {path}: tensor {mismatch}; the PyTorch module has a layer (or a bias) the model lacks, \
         or a field is missing its #[torch] name"
    )]
    Extra {
        /// The file.
        path: PathBuf,
        /// The extra tensor ([`TorchMismatch::Extra`]).
        mismatch: TorchMismatch,
    },
    /// One tensor has another shape in the file than in the model (the only disagreement).
    #[error("PyTorch weights {path}: tensor {mismatch}; make the layer's sizes those of the PyTorch module")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor and both shapes ([`TorchMismatch::Shape`]).
        mismatch: TorchMismatch,
    },
    /// The file and the model disagree on several tensors: another architecture.
    #[error(
        "PyTorch weights {path} do not fit the model: of its {expected} tensors {matched} are in the file with \
         their shape, and {count} tensors disagree, first {}; the file was saved from another architecture \
         (compare the PyTorch module with the model's fields and #[torch] names)",
        first_mismatches(.mismatches)
    )]
    Architecture {
        /// The file.
        path: PathBuf,
        /// How many tensors the model has.
        expected: usize,
        /// How many of them the file holds with the right shape.
        matched: usize,
        /// How many disagreements there are.
        count: usize,
        /// Every disagreement, the model's tensors first.
        mismatches: Vec<TorchMismatch>,
    },
    /// A tensor is stored in a type that is not a float.
    #[error(
        "PyTorch weights {path}: tensor `{torch}` is stored as {dtype}; only F32, F16, BF16 and F64 tensors load \
         (convert with `.float()` before saving)"
    )]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The file's key.
        torch: String,
        /// Its dtype.
        dtype: String,
    },
    /// Writing the checked tensors failed (not expected: every name and length was checked first).
    #[error(transparent)]
    Write(#[from] TensorAccessError),
}

/// The first three mismatches, `; `-separated.
fn first_mismatches(mismatches: &[TorchMismatch]) -> String {
    let shown: Vec<String> = mismatches.iter().take(3).map(ToString::to_string).collect();
    shown.join("; ")
}

/// What [`load_torch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchImport {
    /// Tensors written into the model.
    pub loaded: usize,
    /// Tensors converted to f32 from f16, bf16 or f64.
    pub converted: usize,
    /// The file's keys that were skipped (PyTorch's `num_batches_tracked` counters).
    pub ignored: Vec<String>,
}

/// Whether a PyTorch key is skipped on load: a batch norm's `num_batches_tracked` counter.
fn ignored(key: &str) -> bool {
    key == "num_batches_tracked" || key.ends_with(".num_batches_tracked")
}

/// The PyTorch key of our tensor `ours`, through `M`'s [`Compressible::TORCH_NAMES`].
fn torch_key<M: Compressible>(ours: &str) -> String {
    let named = M::TORCH_NAMES
        .iter()
        .filter(|name| name.torch_key(ours).is_some())
        .max_by_key(|name| name.layer.len());
    let Some(named) = named else {
        return ours.to_string();
    };
    let key = named.torch_key(ours).expect("filtered");
    // dfdx's BatchNorm1D calls its weight `scale`; PyTorch, `weight`.
    let batch_norm_1d = M::layer(named.layer).is_some_and(|layer| matches!(layer.kind, LayerKindInfo::BatchNorm1D { .. }));
    match key.strip_suffix(".scale") {
        Some(prefix) if batch_norm_1d => format!("{prefix}.weight"),
        _ => key,
    }
}

/// Every tensor of `model` with its PyTorch key, in visiting order.
///
/// ```
/// # use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::dfdx::nn::{ModuleVisitor, TensorCollection};
/// # use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo, TorchName};
/// use fasterai_runtime::model::torch_tensors;
/// // A model whose `fc` is `classifier.0` in PyTorch, as `#[torch = "classifier.0"] fc: Linear<3, 2>`
/// // on a derived model says (written out by hand here).
/// struct Head<E: Dtype = f32, D: Device<E> = Cpu> { fc: Linear<3, 2, E, D> }
/// impl Compressible for Head {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
///     const LAYERS: &'static [LayerInfo] =
///         &[LayerInfo::flat("fc", LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true }, 3, 2, 8)];
///     const COUPLINGS: &'static [Coupling] = &[];
///     const TORCH_NAMES: &'static [TorchName] = &[TorchName { layer: "fc", torch: "classifier.0" }];
/// }
/// # impl<E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform, D: Device<E>> TensorCollection<E, D> for Head<E, D> {
/// #     type To<E2: Dtype, D2: Device<E2>> = Head<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, E, D>>(v: &mut V) -> Result<Option<Head<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields(Self::module("fc", |s| &s.fc, |s| &mut s.fc), |fc| Head { fc })
/// #     }
/// # }
/// let head = Head { fc: Linear::<3, 2>::build(&Cpu::default()) };
/// let keys: Vec<String> = torch_tensors(&head).into_iter().map(|t| t.torch).collect();
/// assert_eq!(keys, ["classifier.0.weight", "classifier.0.bias"]);
/// ```
pub fn torch_tensors<M: Compressible + TensorCollection<f32, Cpu>>(model: &M) -> Vec<TorchTensor> {
    crate::nn::tensor_shapes::<f32, Cpu, M>(model)
        .into_iter()
        .map(|(ours, shape)| TorchTensor { torch: torch_key::<M>(&ours), ours, shape })
        .collect()
}

/// The values of a tensor as f32, or `None` for a dtype that is not a float.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
        _ => return None,
    })
}

/// Loads a PyTorch `state_dict` saved with `safetensors.torch.save_file` into `model`, mapping
/// PyTorch's names to the model's through [`Compressible::TORCH_NAMES`] (the derive writes them
/// from the field names and `#[torch = ".."]`; see `docs/pytorch.md`).
///
/// Every tensor of the model must be in the file with its shape, and the file may hold nothing
/// else but PyTorch's `num_batches_tracked` counters, which are skipped. f16, bf16 and f64 tensors
/// are converted to f32. Nothing is transposed: convolution weights are `[out, in, kh, kw]` and
/// linear weights `[out, in]` in both; dfdx's `BatchNorm1D` weight `scale` is PyTorch's `weight`.
///
/// Errors, all naming the file: [`TorchError::Io`]; [`TorchError::File`] for a file that is not
/// safetensors, truncated or corrupt (said in words); [`TorchError::Missing`], [`TorchError::Extra`] or
/// [`TorchError::Shape`] naming the tensor, its PyTorch key and both shapes, when that is the one
/// disagreement; [`TorchError::Architecture`] listing them when there are several;
/// [`TorchError::Dtype`] for an integer tensor. On error the model is unchanged.
///
/// ```
/// # use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::dfdx::nn::{ModuleVisitor, TensorCollection};
/// # use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, LayerKindInfo, ShapeInfo, TorchName};
/// use fasterai_runtime::model::{load_torch, TorchError};
/// use ::safetensors::tensor::{Dtype as FileDtype, TensorView};
/// // A derived model with `#[torch = "classifier.0"] fc: Linear<3, 2>`, written out by hand here.
/// struct Head<E: Dtype = f32, D: Device<E> = Cpu> { fc: Linear<3, 2, E, D> }
/// # impl Compressible for Head {
/// #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
/// #     const LAYERS: &'static [LayerInfo] =
/// #         &[LayerInfo::flat("fc", LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true }, 3, 2, 8)];
/// #     const COUPLINGS: &'static [Coupling] = &[];
/// #     const TORCH_NAMES: &'static [TorchName] = &[TorchName { layer: "fc", torch: "classifier.0" }];
/// # }
/// # impl<E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform, D: Device<E>> TensorCollection<E, D> for Head<E, D> {
/// #     type To<E2: Dtype, D2: Device<E2>> = Head<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, E, D>>(v: &mut V) -> Result<Option<Head<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields(Self::module("fc", |s| &s.fc, |s| &mut s.fc), |fc| Head { fc })
/// #     }
/// # }
///
/// // What PyTorch's `Sequential(Linear(3, 2))` saves, its weight in f16.
/// let path = std::env::temp_dir().join(format!("doc-load-torch-{}.safetensors", std::process::id()));
/// let weight: Vec<u8> = (0..6).flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes()).collect();
/// let bias: Vec<u8> = [0.5f32, -0.5].iter().flat_map(|v| v.to_le_bytes()).collect();
/// let views = [
///     ("classifier.0.weight", TensorView::new(FileDtype::F16, vec![2, 3], &weight).unwrap()),
///     ("classifier.0.bias", TensorView::new(FileDtype::F32, vec![2], &bias).unwrap()),
/// ];
/// ::safetensors::serialize_to_file(views, &None, &path).unwrap();
///
/// let mut head = Head { fc: Linear::<3, 2>::build(&Cpu::default()) };
/// let import = load_torch(&mut head, &path)?;
/// assert_eq!((import.loaded, import.converted), (2, 1));
/// assert_eq!(head.fc.weight.as_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
///
/// // A PyTorch module of another width: the error names the tensor and both shapes.
/// let wide = vec![0u8; 4 * 3 * 4];
/// let views = [
///     ("classifier.0.weight", TensorView::new(FileDtype::F32, vec![4, 3], &wide).unwrap()),
///     ("classifier.0.bias", TensorView::new(FileDtype::F32, vec![2], &bias).unwrap()),
/// ];
/// ::safetensors::serialize_to_file(views, &None, &path).unwrap();
/// let error = load_torch(&mut head, &path).unwrap_err();
/// assert!(matches!(error, TorchError::Shape { .. }));
/// assert!(error.to_string().contains("`classifier.0.weight` has shape [4, 3] in the file but our `fc.weight` has shape [2, 3]"));
/// assert_eq!(head.fc.weight.as_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "unchanged");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), TorchError>(())
/// ```
pub fn load_torch<M>(model: &mut M, path: impl AsRef<Path>) -> Result<TorchImport, TorchError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TorchError::Io { path: path.to_path_buf(), source })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|error| TorchError::File {
        path: path.to_path_buf(),
        message: crate::safetensors_file::describe(&bytes, &error),
    })?;
    let tensors = torch_tensors(model);
    let mut mismatches = Vec::new();
    let mut found = Vec::with_capacity(tensors.len());
    for tensor in &tensors {
        match file.tensor(&tensor.torch) {
            Err(_) => mismatches.push(TorchMismatch::Missing {
                torch: tensor.torch.clone(),
                ours: tensor.ours.clone(),
                expected: tensor.shape.clone(),
            }),
            Ok(view) if view.shape() != tensor.shape.as_slice() => mismatches.push(TorchMismatch::Shape {
                torch: tensor.torch.clone(),
                ours: tensor.ours.clone(),
                expected: tensor.shape.clone(),
                found: view.shape().to_vec(),
            }),
            Ok(view) => found.push((tensor, view)),
        }
    }
    let matched = found.len();
    let mut names = file.names();
    names.sort();
    let mut ignored_keys = Vec::new();
    for name in names {
        if ignored(name) {
            ignored_keys.push(name.clone());
        } else if !tensors.iter().any(|tensor| &tensor.torch == name) {
            let found = file.tensor(name).map(|view| view.shape().to_vec()).unwrap_or_default();
            mismatches.push(TorchMismatch::Extra { torch: name.clone(), found });
        }
    }
    let path = path.to_path_buf();
    if mismatches.len() > 1 {
        let (expected, count) = (tensors.len(), mismatches.len());
        return Err(TorchError::Architecture { path, expected, matched, count, mismatches });
    }
    if let Some(mismatch) = mismatches.pop() {
        return Err(match mismatch {
            TorchMismatch::Missing { .. } => TorchError::Missing { path, mismatch },
            TorchMismatch::Extra { .. } => TorchError::Extra { path, mismatch },
            TorchMismatch::Shape { .. } => TorchError::Shape { path, mismatch },
        });
    }
    let mut values = Vec::with_capacity(found.len());
    let mut converted = 0;
    for (tensor, view) in &found {
        let Some(data) = to_f32(view.dtype(), view.data()) else {
            let dtype = format!("{:?}", view.dtype());
            return Err(TorchError::Dtype { path, torch: tensor.torch.clone(), dtype });
        };
        converted += usize::from(view.dtype() != Dtype::F32);
        values.push((tensor.ours.as_str(), data));
    }
    let updates: Vec<(&str, &[f32])> = values.iter().map(|(name, data)| (*name, data.as_slice())).collect();
    write_tensors(model, &updates)?;
    Ok(TorchImport { loaded: updates.len(), converted, ignored: ignored_keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_and_doubles_convert() {
        let f16: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        assert_eq!(to_f32(Dtype::F16, &f16), Some(vec![1.5, -2.0]));
        let bf16: Vec<u8> = [0.25f32, 3.0].iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
        assert_eq!(to_f32(Dtype::BF16, &bf16), Some(vec![0.25, 3.0]));
        assert_eq!(to_f32(Dtype::F64, &0.5f64.to_le_bytes()), Some(vec![0.5]));
        assert_eq!(to_f32(Dtype::I64, &[0; 8]), None);
    }

    #[test]
    fn only_batch_counters_are_ignored() {
        assert!(ignored("features.1.num_batches_tracked"));
        assert!(ignored("num_batches_tracked"));
        assert!(!ignored("features.1.running_var"));
        assert!(!ignored("my_num_batches_tracked"));
    }
}
