//! Helpers called by the code `#[derive(Compressible)]` generates. Not a public API: names and
//! signatures may change in any release.

use core::any::{Any, TypeId};

use dfdx::prelude::{Cpu, Tape, Tensor};
use dfdx::tensor::Merge;
use dfdx::tensor_ops::TryAdd;
use dfdx::shapes::{RealizeShapeTo, Shape};
use dfdx::tensor::CpuError;
use dfdx::tensor_ops::RealizeTo;

use crate::nn::NnError;

/// An error of one field's forward pass, turned into an [`NnError`] that names the field.
pub trait IntoLayerError {
    /// Attaches the field name (dfdx's errors do not say where they happened).
    fn into_layer_error(self, layer: &'static str) -> NnError;
}

impl IntoLayerError for CpuError {
    fn into_layer_error(self, layer: &'static str) -> NnError {
        NnError::Layer { layer, source: self }
    }
}

impl IntoLayerError for NnError {
    fn into_layer_error(self, _layer: &'static str) -> NnError {
        self
    }
}

/// Relabels a tensor's dimensions as `Dst`, the static shape the derive computed for the output of
/// `layer` (or the dynamic form a layer expects as input). `expected` is that shape without the
/// batch dimension, for the error message.
pub fn realize<Src, Dst, T>(
    x: Tensor<Src, f32, Cpu, T>,
    layer: &'static str,
    expected: &'static [usize],
) -> Result<Tensor<Dst, f32, Cpu, T>, NnError>
where
    Src: Shape + RealizeShapeTo<Dst>,
    Dst: Shape<Concrete = Src::Concrete>,
    T: Tape<f32, Cpu>,
{
    x.try_realize::<Dst>().map_err(|x| NnError::Realize {
        layer,
        expected: expected.to_vec(),
        found: dfdx::shapes::HasShape::shape(&x).concrete().into_iter().skip(1).collect(),
    })
}

/// The add that ends a residual block: `main + other`, then ReLU when `relu` (PyTorch's ReLU: NaN
/// passes). The tapes of both sides merge, so gradients reach both paths.
///
/// ```
/// use dfdx::prelude::*;
/// use fasterai_runtime::model::generated::residual_add;
/// let dev = Cpu::default();
/// let a = dev.tensor([1.0f32, -3.0]);
/// let b = dev.tensor([1.0f32, 1.0]);
/// assert_eq!(residual_add(a, b, true, "block").unwrap().array(), [2.0, 0.0]);
/// ```
pub fn residual_add<S, L, R>(
    main: Tensor<S, f32, Cpu, L>,
    other: Tensor<S, f32, Cpu, R>,
    relu: bool,
    layer: &'static str,
) -> Result<Tensor<S, f32, Cpu, L>, NnError>
where
    S: Shape,
    L: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
{
    let sum = main.try_add(other).map_err(|source| NnError::Layer { layer, source })?;
    if relu {
        crate::ops::relu::relu(sum).map_err(|source| NnError::Layer { layer, source })
    } else {
        Ok(sum)
    }
}

/// Whether a dfdx visitor converts to `f32` on [`Cpu`], the only dtype and device a derived model
/// holds. Other visitors (`to_dtype`, `to_device`) are declined.
pub fn visits_f32_cpu<E: Any, D: Any>() -> bool {
    TypeId::of::<E>() == TypeId::of::<f32>() && TypeId::of::<D>() == TypeId::of::<Cpu>()
}

/// Holds when a field's type is the layer `L` that `#[derive(Compressible)]` read from its name:
/// the derive asserts it for every field, so a type of one's own that happens to be called `ReLU`
/// (or a different `Linear`) is refused instead of being frozen as fasterai's.
#[diagnostic::on_unimplemented(
    message = "this field's type is not fasterai's `{L}`, which `#[derive(Compressible)]` took it for by its name",
    label = "expected fasterai's `{L}` here",
    note = "#[derive(Compressible)] recognises layers by their type's name and computes shapes from it: \
            use fasterai's layer (`use fasterai::prelude::*;`), or give a layer of your own a name that is not a \
            fasterai layer's",
    note = "for an alias of a fasterai layer, name the layer on the field: `#[layer(Linear<4, 8>)] fc: MyAlias`"
)]
pub trait IsLayer<L> {}

impl<L> IsLayer<L> for L {}

/// Compiles only when `T` is the layer `L` (see [`IsLayer`]).
pub fn assert_layer<T: IsLayer<L>, L>() {}

/// Compiles only when `M` derives `Compressible` (the model a `compress!` block names).
pub fn assert_model<M: super::Compressible>(_: &M) {}

/// Moves a field built by a dfdx visitor into the field's declared type. Called only after
/// [`visits_f32_cpu`] returned true, when both types are the same.
pub fn same_type<A: Any, B: Any>(value: A) -> B {
    let boxed: Box<dyn Any> = Box::new(value);
    match boxed.downcast::<B>() {
        Ok(value) => *value,
        Err(_) => unreachable!("a derived model is only rebuilt as f32 on Cpu (checked before)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn realize_relabels_and_reports_shapes() {
        let dev = Cpu::default();
        let x: Tensor<(usize, Const<2>, usize, usize), f32, Cpu> = dev.zeros_like(&(3, Const, 4, 5));
        let ok = realize::<_, (usize, Const<2>, Const<4>, Const<5>), _>(x.clone(), "pool", &[2, 4, 5]);
        assert_eq!(ok.unwrap().shape().concrete(), [3, 2, 4, 5]);
        let err = realize::<_, (usize, Const<2>, Const<3>, Const<5>), _>(x, "pool", &[2, 3, 5]).unwrap_err();
        match err {
            NnError::Realize { layer, expected, found } => {
                assert_eq!((layer, expected, found), ("pool", vec![2, 3, 5], vec![2, 4, 5]));
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn only_f32_on_cpu_is_visited() {
        assert!(visits_f32_cpu::<f32, Cpu>());
        assert!(!visits_f32_cpu::<f64, Cpu>());
        let x: u32 = same_type::<u32, u32>(7);
        assert_eq!(x, 7);
    }
}
