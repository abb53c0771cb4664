//! Safetensors round trips for the tests: a model saved to the temporary folder and loaded back.

use fasterai::prelude::*;
use std::path::{Path, PathBuf};

/// Saves `model` to `fasterai-<name>-<process id>.safetensors` in the temporary folder.
pub fn save_temp(model: &impl TensorCollection<f32, Cpu>, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("fasterai-{name}-{}.safetensors", std::process::id()));
    model.save_safetensors(&path).unwrap();
    path
}

/// [`save_temp`], checking that the file holds a tensor under each name of `expected`; the path
/// and the names of all the file's tensors, sorted.
pub fn save_temp_holding(model: &impl TensorCollection<f32, Cpu>, name: &str, expected: &[&str]) -> (PathBuf, Vec<String>) {
    let path = save_temp(model, name);
    let bytes = std::fs::read(&path).unwrap();
    let mut names: Vec<String> = ::safetensors::SafeTensors::deserialize(&bytes).unwrap().names().into_iter().cloned().collect();
    names.sort();
    for key in expected {
        assert!(names.iter().any(|name| name == key), "missing {key} in {names:?}");
    }
    (path, names)
}

/// `fresh` (a model built anew) with the weights of the file at `path`, which is then removed.
pub fn load_and_remove<M: TensorCollection<f32, Cpu>>(mut fresh: M, path: &Path) -> M {
    fresh.load_safetensors(path).unwrap();
    std::fs::remove_file(path).unwrap();
    fresh
}

/// `model` saved under `name` and loaded back into `fresh`, a model of the same type built anew.
pub fn round_trip<M: TensorCollection<f32, Cpu>>(model: &M, fresh: M, name: &str) -> M {
    let path = save_temp(model, name);
    load_and_remove(fresh, &path)
}
