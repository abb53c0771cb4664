//! Size of a model as saved: the byte length of its safetensors file.
//!
//! fasterai measures a model by the size of its saved state dict; here the saved form is the
//! safetensors file dfdx writes (`save_safetensors`): an 8-byte header length, a JSON header padded
//! to a multiple of 8 bytes, then every tensor's little-endian data. BatchNorm running statistics and
//! scalars (epsilon, momentum, stored as `F64`) are part of it, as buffers are part of a state dict.

use std::{borrow::Cow, fs};

use dfdx::{
    nn::{SaveToSafetensors, TensorCollection},
    shapes::Dtype,
    tensor::safetensors::SafeDtype,
    tensor_ops::Device,
};
use safetensors::{Dtype as SafeType, View};

use super::{Bytes, MeasureError};
use crate::fsutil::ScratchDir;
use crate::nn::walk::{walk, Item};

/// Bytes of the safetensors file `model.save_safetensors(..)` writes.
///
/// Saves into a scratch directory under the system temp dir, reads the file's length, and removes
/// the directory. [`model_size_in_memory`] gives the same number without touching the disk.
///
/// ```
/// use fasterai_runtime::{measure::{model_size, model_size_in_memory}, nn::Linear, prelude::*};
/// let model: Linear<3, 2> = BuildModule::build(&Cpu::default());
/// assert_eq!(model_size(&model)?, model_size_in_memory(&model)?);
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
pub fn model_size<E, D, M>(model: &M) -> Result<Bytes, MeasureError>
where
    E: Dtype + SafeDtype,
    D: Device<E>,
    M: TensorCollection<E, D>,
{
    let scratch = ScratchDir::new("model-size").map_err(|source| MeasureError::Io {
        action: "create a scratch directory in",
        path: std::env::temp_dir(),
        source,
    })?;
    let path = scratch.path().join("model.safetensors");
    model
        .save_safetensors(&path)
        .map_err(|source| MeasureError::SafeTensors { path: path.clone(), source })?;
    let len = fs::metadata(&path)
        .map_err(|source| MeasureError::Io { action: "read the size of", path: path.clone(), source })?
        .len();
    Ok(Bytes(len))
}

/// The byte length [`model_size`] would find, computed without writing anything.
///
/// Lists every tensor (name, dtype, shape) the way dfdx's writer does, lets the `safetensors` crate
/// build the very header it would write, and adds the data lengths; no tensor data is copied.
///
/// Errors only if the `safetensors` crate refuses the header, which would make saving fail too.
pub fn model_size_in_memory<E, D, M>(model: &M) -> Result<Bytes, MeasureError>
where
    E: Dtype + SafeDtype,
    D: Device<E>,
    M: TensorCollection<E, D>,
{
    let mut layout: Vec<(String, TensorLayout)> = Vec::new();
    walk::<E, D, M>(model, |item| match item {
        Item::Tensor(t) => {
            let dtype = E::safe_dtype();
            let len = t.numel() * dtype.size();
            layout.push((t.name, TensorLayout { dtype, shape: t.shape, len }));
        }
        // dfdx stores every scalar as one F64 of shape [].
        Item::Scalar { name, .. } => layout.push((name, TensorLayout { dtype: SafeType::F64, shape: Vec::new(), len: 8 })),
    });
    let data: u64 = layout.iter().map(|(_, t)| t.len as u64).sum();
    // The views report their lengths but hold no bytes: `serialize` returns the 8-byte length
    // prefix and the padded JSON header, with offsets computed from those lengths.
    let header = safetensors::serialize(layout.iter().map(|(name, t)| (name.as_str(), t)), &None)
        .map_err(|source| MeasureError::SafeTensorsHeader { source })?;
    Ok(Bytes(header.len() as u64 + data))
}

/// What the safetensors header says of one tensor.
#[derive(Debug)]
struct TensorLayout {
    dtype: SafeType,
    shape: Vec<usize>,
    len: usize,
}

impl View for &TensorLayout {
    fn dtype(&self) -> SafeType {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&[])
    }
    fn data_len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::{BuildModule, Cpu};

    use super::*;
    use crate::nn::{BatchNorm2D, Linear, ReLU};

    #[test]
    fn linear_size_matches_a_hand_computed_file() {
        let model: Linear<3, 2> = BuildModule::build(&Cpu::default());
        // The header safetensors writes (tensors sorted by dtype, then name), padded with spaces to a
        // multiple of 8: 118 bytes of JSON + 2 spaces = 120.
        let json = r#"{"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}"#;
        assert_eq!(json.len(), 118);
        let expected = 8 + 120 + (2 + 6) * 4;
        assert_eq!(model_size(&model).unwrap(), Bytes(expected));
        assert_eq!(model_size_in_memory(&model).unwrap(), Bytes(expected));

        // The file itself: length prefix, that JSON, the padding, then the data.
        let dir = ScratchDir::new("size-test").unwrap();
        let path = dir.path().join("m.safetensors");
        model.save_safetensors(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, expected);
        assert_eq!(&bytes[..8], &120u64.to_le_bytes());
        assert_eq!(&bytes[8..8 + 118], json.as_bytes());
        assert_eq!(&bytes[8 + 118..8 + 120], b"  ");
    }

    #[test]
    fn disk_and_memory_sizes_agree_on_a_model_with_buffers_and_scalars() {
        let dev = Cpu::default();
        type Net = (Linear<64, 32>, ReLU, (BatchNorm2D<7>, Linear<32, 10>));
        let model = Net::build(&dev);
        let on_disk = model_size(&model).unwrap();
        assert_eq!(model_size_in_memory(&model).unwrap(), on_disk);
        // Data: linears, BN scale/bias/mean/var, two f64 scalars; the rest is header.
        let data = (64 * 32 + 32 + 32 * 10 + 10 + 4 * 7) * 4 + 2 * 8;
        assert!(on_disk.0 > data && on_disk.0 < data + 1024, "{on_disk:?} vs data {data}");
    }
}
