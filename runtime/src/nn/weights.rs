//! Checked safetensors save/load for any dfdx [`TensorCollection`] model.
//!
//! dfdx's own loader panics or reports a bare dimension pair when a file does not fit the model;
//! [`load_weights`] first reads the file's header and compares every tensor the model expects
//! (name, shape, dtype), so a mismatch is a [`NnError`] naming the tensor and both shapes, and
//! the model is left untouched. [`save_weights`] writes to a temporary file and renames it, so a
//! crash never leaves a half-written weights file behind.

use std::path::{Path, PathBuf};

use dfdx::nn::SaveToSafetensors;
use dfdx::nn::{RecursiveWalker, TensorCollection};
use dfdx::prelude::Dtype;
use dfdx::tensor::safetensors::SafeDtype;
use dfdx::tensor_ops::Device;
use safetensors::{SafeTensorError, SafeTensors};

use super::NnError;

/// The `(name, shape)` of every tensor in `model`, in visiting order, names as in its
/// safetensors file (`conv1.weight`, ...).
pub fn tensor_shapes<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
) -> Vec<(String, Vec<usize>)> {
    let mut entries = Vec::new();
    super::walk::walk_tensors::<E, D, M>(model, |t| entries.push((t.name, t.shape)));
    entries
}

fn safetensors_error(path: &Path, e: impl std::fmt::Debug) -> NnError {
    NnError::Safetensors {
        path: path.to_path_buf(),
        message: format!("{e:?}"),
    }
}

/// Loads `model`'s tensors from a safetensors file after checking that the file holds every
/// tensor the model expects with the same shape and dtype.
///
/// Errors: [`NnError::ShapeMismatch`] naming the tensor and both shapes, [`NnError::MissingTensor`],
/// [`NnError::DtypeMismatch`], [`NnError::Io`], [`NnError::Safetensors`] (a truncated or garbage
/// file, said in words: how many bytes the header announces and the file holds). On error the
/// model is unchanged. Extra tensors in the file are ignored (a biased file loads into an unbiased layer).
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::nn::{load_weights, save_weights, Conv2D, NnError};
/// let dev = Cpu::default();
/// let path = std::env::temp_dir().join(format!("doc-load-weights-{}.safetensors", std::process::id()));
/// save_weights(&dev.build_module::<Conv2D<1, 8, 3>, f32>(), &path)?;
/// let mut wider = dev.build_module::<Conv2D<1, 16, 3>, f32>();
/// let err = load_weights(&mut wider, &path).unwrap_err();
/// assert!(matches!(err, NnError::ShapeMismatch { ref name, .. } if name == "weight"));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), NnError>(())
/// ```
pub fn load_weights<E, D, M>(model: &mut M, path: impl AsRef<Path>) -> Result<(), NnError>
where
    E: Dtype + SafeDtype,
    D: Device<E>,
    M: TensorCollection<E, D>,
{
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let mut file = SafeTensors::deserialize(&bytes).map_err(|e| NnError::Safetensors {
        path: path.to_path_buf(),
        message: format!(
            "{}; check the path, or save the weights again with save_weights",
            crate::safetensors_file::describe(&bytes, &e)
        ),
    })?;
    for (name, expected) in tensor_shapes(model) {
        let view = match file.tensor(&name) {
            Ok(view) => view,
            Err(SafeTensorError::TensorNotFound(_)) => return Err(NnError::MissingTensor { name }),
            Err(e) => return Err(safetensors_error(path, e)),
        };
        if view.shape() != expected.as_slice() {
            return Err(NnError::ShapeMismatch {
                name,
                expected,
                found: view.shape().to_vec(),
            });
        }
        if view.dtype() != E::safe_dtype() {
            return Err(NnError::DtypeMismatch {
                name,
                expected: format!("{:?}", E::safe_dtype()),
                found: format!("{:?}", view.dtype()),
            });
        }
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut file,
    })
    .map_err(|e| safetensors_error(path, e))?;
    Ok(())
}

/// Saves `model`'s tensors (PyTorch-like keys: `weight`, `conv1.bias`, ...) as safetensors,
/// writing a temporary file beside `path` and renaming it into place.
pub fn save_weights<E, D, M>(model: &M, path: impl AsRef<Path>) -> Result<(), NnError>
where
    E: Dtype + SafeDtype,
    D: Device<E>,
    M: TensorCollection<E, D>,
{
    let path = path.as_ref();
    let tmp = temporary_sibling(path);
    let written = model
        .save_safetensors(&tmp)
        .map_err(|e| safetensors_error(&tmp, e));
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| NnError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// `dir/.name.tmp-<pid>` beside `path` (same file system, so the rename is atomic).
fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::ScratchDir;
    use crate::nn::Conv2D;
    use dfdx::prelude::*;

    #[test]
    fn truncated_and_garbage_files_are_described_and_leave_the_model_intact() {
        let dir = ScratchDir::new("weights-damaged").unwrap();
        let dev = Cpu::seed_from_u64(0);
        let saved = dev.build_module::<Conv2D<1, 4, 3>, f32>();
        let good = dir.path().join("good.safetensors");
        save_weights(&saved, &good).unwrap();
        let bytes = std::fs::read(&good).unwrap();

        let truncated = dir.path().join("truncated.safetensors");
        std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
        let garbage = dir.path().join("garbage.safetensors");
        std::fs::write(&garbage, "not weights at all, just some text that someone saved here").unwrap();
        let cases = [
            (
                &truncated,
                format!(
                    "it is truncated: its header says the file is {} bytes long, but it holds {} bytes; check the \
                     path, or save the weights again with save_weights",
                    bytes.len(),
                    bytes.len() - 10
                ),
            ),
            (&garbage, "it is not a safetensors file (or it is corrupt)".to_string()),
        ];
        for (path, needle) in cases {
            let mut model = Conv2D::<1, 4, 3>::build(&Cpu::seed_from_u64(1));
            let before = (model.weight.as_vec(), model.bias.as_vec());
            let message = load_weights(&mut model, path).unwrap_err().to_string();
            assert!(message.contains(&needle), "{message}\n(wanted {needle})");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert_eq!((model.weight.as_vec(), model.bias.as_vec()), before, "the model is unchanged");
        }
        let mut model = Conv2D::<1, 4, 3>::build(&Cpu::seed_from_u64(1));
        load_weights(&mut model, &good).unwrap();
        assert_eq!(model.weight.as_vec(), saved.weight.as_vec());
    }
}
