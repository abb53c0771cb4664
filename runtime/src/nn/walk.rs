//! Walking a model's tensors and scalars by name, read-only, or their gradients, without a
//! hand-written `TensorVisitor` for each question.
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
use dfdx::prelude::{Cpu, Dtype, Gradients, HasShape, Shape, Tensor};
use dfdx::tensor::CpuError;
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

/// Calls `f(name, gradient)` for every tensor of `model` that `wants(name, trainable)` accepts,
/// with its gradient in `grads` (zeros if the backward pass reached none). Tensors it declines
/// are not looked up, so no gradient is allocated for them.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::nn::walk::walk_gradients;
/// let dev = Cpu::default();
/// let fc: Linear<2, 1> = BuildModule::build(&dev);
/// let x = dev.tensor([[1.0f32, 2.0]]);
/// let mut grads = fc.forward(x.leaky_trace()).sum().backward();
/// let mut seen = Vec::new();
/// walk_gradients(&fc, &mut grads, |_, trainable| trainable, |name, g| seen.push((name, g.to_vec())))?;
/// assert_eq!(seen, [("weight".to_string(), vec![1.0, 2.0]), ("bias".to_string(), vec![1.0])]);
/// # Ok::<(), fasterai_runtime::dfdx::tensor::CpuError>(())
/// ```
pub fn walk_gradients<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
    wants: impl Fn(&str, bool) -> bool,
    f: impl FnMut(String, &[f32]),
) -> Result<(), CpuError> {
    let mut walker = GradientWalker { grads, wants, f };
    M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut walker })?;
    Ok(())
}

struct GradientWalker<'g, W, F> {
    grads: &'g mut Gradients<f32, Cpu>,
    wants: W,
    f: F,
}

impl<W: Fn(&str, bool) -> bool, F: FnMut(String, &[f32])> TensorVisitor<f32, Cpu> for GradientWalker<'_, W, F> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        options: TensorOptions<S, f32, Cpu>,
        (tensor, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if (self.wants)(&name, options.do_gradient_update) {
            let gradient = self.grads.get_or_alloc_mut(tensor)?;
            (self.f)(name, gradient);
        }
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(&mut self, _: ScalarOptions<N>, _: (&N, String)) -> Result<Option<N>, Self::Err> {
        Ok(None)
    }
}
