//! Walking a model's tensors and scalars by name, read-only, without a hand-written
//! `TensorVisitor` for each question.
//!
//! Names are the ones dfdx's safetensors files use: the field path joined with dots
//! (`conv1.weight`, `bn1.running_var`, `bn1.epsilon`).
//!
//! ```
//! use fasterai_runtime::prelude::*;
//! use fasterai_runtime::nn::walk::{walk, Item};
//! let bn: BatchNorm2D<2> = BuildModule::build(&Cpu::default());
//! let mut names = Vec::new();
//! walk::<f32, Cpu, _>(&bn, |item| match item {
//!     Item::Tensor(t) => names.push(format!("{} {:?}", t.name, t.shape)),
//!     Item::Scalar { name, value } => names.push(format!("{name} = {value}")),
//! });
//! assert_eq!(names[0], "weight [2]");
//! assert!(names.contains(&"epsilon = 0.00001".to_string()));
//! ```

use dfdx::nn::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::{Dtype, HasShape, Shape, Tensor};
use dfdx::tensor_ops::Device;

/// One tensor met on a walk: its name, its shape, and its values on request.
pub struct TensorItem<'a, E> {
    /// The dotted name (`conv1.weight`).
    pub name: String,
    /// The concrete shape.
    pub shape: Vec<usize>,
    values: &'a dyn Fn() -> Vec<E>,
}

impl<E> TensorItem<'_, E> {
    /// A copy of the values, row-major (copied only when asked).
    pub fn values(&self) -> Vec<E> {
        (self.values)()
    }

    /// How many values it holds.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// What a walk meets: a tensor, or a scalar such as a batch norm's `epsilon`.
pub enum Item<'a, E> {
    /// A tensor.
    Tensor(TensorItem<'a, E>),
    /// A scalar, as `f64`.
    Scalar {
        /// The dotted name (`bn1.epsilon`).
        name: String,
        /// Its value.
        value: f64,
    },
}

struct Walker<F>(F);

impl<E: Dtype, D: Device<E>, F: FnMut(Item<'_, E>)> TensorVisitor<E, D> for Walker<F> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (tensor, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        let values = || tensor.as_vec();
        (self.0)(Item::Tensor(TensorItem { name, shape: tensor.shape().concrete().into(), values: &values }));
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        (value, name): (&N, String),
    ) -> Result<Option<N>, Self::Err> {
        (self.0)(Item::Scalar { name, value: value.to_f64().unwrap_or(f64::NAN) });
        Ok(None)
    }
}

/// Calls `f` for every tensor and scalar of `model`, in visiting order (field order for a derived
/// model; dfdx's safetensors writer visits in the same order).
pub fn walk<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(model: &M, f: impl FnMut(Item<'_, E>)) {
    let mut walker = Walker(f);
    match M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut walker }) {
        Ok(_) => {}
        Err(never) => match never {},
    }
}

/// Calls `f` for every tensor of `model` (scalars skipped).
pub fn walk_tensors<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
    mut f: impl FnMut(TensorItem<'_, E>),
) {
    walk::<E, D, M>(model, |item| {
        if let Item::Tensor(t) = item {
            f(t)
        }
    })
}
