//! Reading and writing a model's tensors by name (`conv1.weight`, `bn1.running_var`), for passes
//! that work on any model: sparsity masks, pruning plans, quantization, accelerated plans.
//!
//! Names are the ones dfdx's safetensors files use: the field path joined with dots. A derived
//! model's tensors are therefore `<field>.weight`, `<field>.bias`, and for a BatchNorm also
//! `<field>.running_mean` and `<field>.running_var`.
//!
//! ```
//! use fasterai_runtime::prelude::*;
//! use fasterai_runtime::model::{read_tensor, write_tensor};
//! let dev = Cpu::default();
//! let mut fc = Linear::<3, 2>::build(&dev);
//! let weight = read_tensor(&fc, "weight").unwrap();
//! assert_eq!(weight.shape, vec![2, 3]);
//! write_tensor(&mut fc, "weight", &[0.0; 6]).unwrap();
//! assert_eq!(fc.weight.as_vec(), vec![0.0; 6]);
//! ```

use dfdx::nn::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
};
use dfdx::prelude::{Cpu, HasShape, Shape, Tensor};

/// One tensor of a model, copied out: its name, shape and values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The tensor's name (`conv1.weight`).
    pub name: String,
    /// Its dimensions, outermost first (`[out, in, k, k]` for a convolution's weight).
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Number of values, the product of [`NamedTensor::shape`].
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Why a named tensor could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorAccessError {
    /// The model has no tensor with this name.
    #[error("the model has no tensor named `{name}`; its tensors are: {available}")]
    Missing {
        /// The name asked for.
        name: String,
        /// Every tensor name of the model, comma-separated.
        available: String,
    },
    /// The values given do not fill the tensor exactly.
    #[error("tensor `{name}` holds {expected} values (shape {shape:?}) but {found} were given")]
    WrongLength {
        /// The tensor's name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Values it holds.
        expected: usize,
        /// Values given.
        found: usize,
    },
}

/// Overwrites the tensors named in `updates`, recording the ones it wrote.
struct Writer<'u> {
    updates: &'u [(&'u str, &'u [f32])],
    written: Vec<bool>,
    error: Option<TensorAccessError>,
}

impl TensorVisitor<f32, Cpu> for Writer<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        (tensor, name): (&mut Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if let Some(i) = self.updates.iter().position(|(n, _)| *n == name) {
            let values = self.updates[i].1;
            let expected = tensor.shape().num_elements();
            if values.len() == expected {
                tensor.copy_from(values);
                self.written[i] = true;
            } else if self.error.is_none() {
                let shape = tensor.shape().concrete().into_iter().collect();
                self.error = Some(TensorAccessError::WrongLength { name, shape, expected, found: values.len() });
            }
        }
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&mut N, String),
    ) -> Result<Option<N>, Self::Err> {
        Ok(None)
    }
}

fn read_where<M: TensorCollection<f32, Cpu>>(model: &M, wanted: &dyn Fn(&str) -> bool) -> Vec<NamedTensor> {
    let mut found = Vec::new();
    crate::nn::walk::walk_tensors::<f32, Cpu, M>(model, |t| {
        if wanted(&t.name) {
            let data = t.values();
            found.push(NamedTensor { name: t.name, shape: t.shape, data });
        }
    });
    found
}

/// Every tensor of `model`, in visiting order (field order for a derived model).
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::model::read_tensors;
/// let fc = Linear::<3, 2>::build(&Cpu::default());
/// let names: Vec<String> = read_tensors(&fc).into_iter().map(|t| t.name).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// ```
pub fn read_tensors<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<NamedTensor> {
    read_where(model, &|_| true)
}

/// The names of every tensor of `model`, in visiting order.
pub fn tensor_names<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<String> {
    crate::nn::tensor_shapes::<f32, Cpu, M>(model).into_iter().map(|(name, _)| name).collect()
}

fn missing<M: TensorCollection<f32, Cpu>>(model: &M, name: &str) -> TensorAccessError {
    TensorAccessError::Missing { name: name.to_string(), available: tensor_names(model).join(", ") }
}

/// A copy of the tensor called `name`, or [`TensorAccessError::Missing`] listing the names there are.
pub fn read_tensor<M: TensorCollection<f32, Cpu>>(model: &M, name: &str) -> Result<NamedTensor, TensorAccessError> {
    read_where(model, &|n| n == name).pop().ok_or_else(|| missing(model, name))
}

/// Overwrites the tensor called `name` with `values` (row-major, exactly as many as it holds).
/// On error the model is unchanged.
pub fn write_tensor<M: TensorCollection<f32, Cpu>>(
    model: &mut M,
    name: &str,
    values: &[f32],
) -> Result<(), TensorAccessError> {
    write_tensors(model, &[(name, values)])
}

/// Overwrites several tensors in one walk. Checks every name and length first, so on error the
/// model is unchanged.
pub fn write_tensors<M: TensorCollection<f32, Cpu>>(
    model: &mut M,
    updates: &[(&str, &[f32])],
) -> Result<(), TensorAccessError> {
    let shapes = crate::nn::tensor_shapes::<f32, Cpu, M>(model);
    for (name, values) in updates {
        let Some((_, shape)) = shapes.iter().find(|(n, _)| n == name) else {
            return Err(missing(model, name));
        };
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(TensorAccessError::WrongLength {
                name: name.to_string(),
                shape: shape.clone(),
                expected,
                found: values.len(),
            });
        }
    }
    let mut writer = Writer { updates, written: vec![false; updates.len()], error: None };
    let walked = M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut writer });
    match walked {
        Ok(_) => {}
        Err(never) => match never {},
    }
    match writer.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{BatchNorm2D, Conv2D};
    use dfdx::prelude::*;

    type Net = (Conv2D<1, 2, 3>, BatchNorm2D<2>);

    #[test]
    fn reads_every_tensor_with_its_shape() {
        let net = Cpu::default().build_module::<Net, f32>();
        let tensors = read_tensors(&net);
        let listed: Vec<(&str, &[usize])> = tensors.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
        assert_eq!(
            listed,
            [
                ("0.weight", &[2, 1, 3, 3][..]),
                ("0.bias", &[2][..]),
                ("1.weight", &[2][..]),
                ("1.bias", &[2][..]),
                ("1.running_mean", &[2][..]),
                ("1.running_var", &[2][..]),
            ]
        );
        assert_eq!(tensors[0].data, net.0.weight.as_vec());
    }

    #[test]
    fn writes_land_in_the_named_tensor_only() {
        let mut net = Cpu::default().build_module::<Net, f32>();
        let bias_before = net.0.bias.as_vec();
        let values: Vec<f32> = (0..18).map(|i| i as f32).collect();
        write_tensors(&mut net, &[("0.weight", &values), ("1.running_var", &[4.0, 5.0])]).unwrap();
        assert_eq!(net.0.weight.as_vec(), values);
        assert_eq!(net.1.running_var.as_vec(), vec![4.0, 5.0]);
        assert_eq!(net.0.bias.as_vec(), bias_before);
    }

    #[test]
    fn a_bad_name_or_length_is_an_error_and_changes_nothing() {
        let mut net = Cpu::default().build_module::<Net, f32>();
        let before = net.0.weight.as_vec();
        let error = write_tensors(&mut net, &[("0.weight", &[0.0; 18]), ("conv9.weight", &[0.0])]).unwrap_err();
        assert!(error.to_string().contains("conv9.weight") && error.to_string().contains("0.bias"), "{error}");
        let error = write_tensor(&mut net, "0.weight", &[1.0; 5]).unwrap_err();
        assert_eq!(
            error,
            TensorAccessError::WrongLength { name: "0.weight".into(), shape: vec![2, 1, 3, 3], expected: 18, found: 5 }
        );
        assert_eq!(net.0.weight.as_vec(), before);
        assert!(read_tensor(&net, "nope").is_err());
    }
}
