//! A model's forward pass that also returns its `#[tap]` activations as named feature maps, the
//! input of feature-map distillation.
//!
//! `#[derive(Compressible)]` implements [`TappedForward`] for every model with at least one `#[tap]`
//! field. Each tapped activation becomes a [`Tap`]: the field name and a `(batch, C, H, W)` tensor.
//! A flat activation of `n` features (the output of a `Linear`) becomes `(batch, n, 1, 1)`, so every
//! feature loss can take it; spatial-size matching skips such 1×1 maps, and the `Attention` loss
//! refuses them (a 1×1 attention map normalises to 1, whatever the features).
//!
//! In the training forward each tap carries an empty tape and shares its id with the activation
//! it copies (no values are copied: dfdx tensors share their buffer), so a loss built on a tap and
//! added to the loss on the logits sends its gradient through every layer before the tap.

use dfdx::prelude::{Cpu, NoneTape, OwnedTape, ReshapeTo as _, Shape, Tape, Tensor};
use dfdx::shapes::HasShape as _;

use super::{Compressible, ShapeInfo};
use crate::nn::NnError;

/// Activations `(batch, C, H, W)` with tape `T`.
pub type FeatureMap<T = NoneTape> = Tensor<(usize, usize, usize, usize), f32, Cpu, T>;

/// A tapped layer as the model describes it: its field name and the shape of one sample of its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TapInfo {
    /// The field's name.
    pub name: &'static str,
    /// The shape of its output for one sample.
    pub shape: ShapeInfo,
}

impl TapInfo {
    /// The `(C, H, W)` of the feature map this tap becomes: a flat output of `n` features is `(n, 1, 1)`.
    ///
    /// ```
    /// use fasterai_runtime::model::{ShapeInfo, TapInfo};
    /// let fc = TapInfo { name: "fc1", shape: ShapeInfo::Flat { n: 32 } };
    /// assert_eq!(fc.chw(), (32, 1, 1));
    /// ```
    pub const fn chw(&self) -> (usize, usize, usize) {
        match self.shape {
            ShapeInfo::Chw { c, h, w } => (c, h, w),
            ShapeInfo::Flat { n } => (n, 1, 1),
        }
    }
}

/// One tapped activation: the field's name and its output as a `(batch, C, H, W)` feature map.
#[derive(Debug, Clone)]
pub struct Tap<T = NoneTape> {
    /// The field's name.
    pub name: &'static str,
    /// Its output; `(batch, n, 1, 1)` for a flat output of `n` features.
    pub map: FeatureMap<T>,
}

impl<T: Tape<f32, Cpu>> Tap<T> {
    /// Views a layer output of rank 4 (`(batch, C, H, W)`) or 2 (`(batch, n)`, as `(batch, n, 1, 1)`)
    /// as a tap named `name`, keeping its tape and id: no value is copied, and a gradient reaching
    /// the tap reaches the activation.
    ///
    /// ```
    /// use fasterai_runtime::dfdx::prelude::*;
    /// use fasterai_runtime::model::Tap;
    /// let dev = Cpu::default();
    /// let x: Tensor<(usize, Const<3>), f32, Cpu> = dev.zeros_like(&(2, Const));
    /// let tap = Tap::from_output("fc", x).unwrap();
    /// assert_eq!(*tap.map.shape(), (2, 3, 1, 1));
    /// let odd: Tensor<(usize, Const<2>, Const<3>), f32, Cpu> = dev.zeros_like(&(1, Const, Const));
    /// let err = Tap::from_output("odd", odd).unwrap_err();
    /// assert_eq!(err.to_string(), "tap `odd` has shape [1, 2, 3]; a tap must be (batch, C, H, W) or (batch, features)");
    /// ```
    pub fn from_output<S: Shape>(name: &'static str, x: Tensor<S, f32, Cpu, T>) -> Result<Self, NnError> {
        let dims: Vec<usize> = x.shape().concrete().into_iter().collect();
        let target = match dims[..] {
            [b, c, h, w] => (b, c, h, w),
            [b, n] => (b, n, 1, 1),
            _ => return Err(NnError::TapRank { layer: name, shape: dims }),
        };
        Ok(Self { name, map: x.try_reshape_like(&target)? })
    }
}

impl Tap<OwnedTape<f32, Cpu>> {
    /// Splits the tap into its values (no tape) and its tape, which the caller merges into the
    /// loss's tape (it is empty unless the view had to copy a non-contiguous output).
    pub fn split(self) -> (Tap, OwnedTape<f32, Cpu>) {
        let (map, tape) = dfdx::prelude::SplitTape::split_tape(self.map);
        (Tap { name: self.name, map }, tape)
    }
}

/// The training logits and taps of a [`TappedForward`] model.
pub type TrainTapped<M> = (
    Tensor<<M as TappedForward>::Output, f32, Cpu, OwnedTape<f32, Cpu>>,
    Vec<Tap<OwnedTape<f32, Cpu>>>,
);

/// The inference logits and taps of a [`TappedForward`] model.
pub type InferTapped<M> = (Tensor<<M as TappedForward>::Output, f32, Cpu>, Vec<Tap>);

/// A model whose forward pass can also return the activations of named layers.
/// `#[derive(Compressible)]` implements it for every model with `#[tap]` fields.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::model::{Compressible, Coupling, LayerInfo, ShapeInfo, Tap, TapInfo, TappedForward, TrainTapped, InferTapped};
/// use fasterai_runtime::nn::NnError;
///
/// /// `y = x` with the input itself tapped, written by hand.
/// struct Identity;
/// impl Compressible for Identity {
///     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 2 };
///     const LAYERS: &'static [LayerInfo] = &[];
///     const COUPLINGS: &'static [Coupling] = &[];
/// }
/// impl TappedForward for Identity {
///     type Input = (usize, Const<2>);
///     type Output = (usize, Const<2>);
///     const TAPS: &'static [TapInfo] = &[TapInfo { name: "input", shape: ShapeInfo::Flat { n: 2 } }];
///     fn forward_train_tapped(&mut self, x: Tensor<(usize, Const<2>), f32, Cpu, OwnedTape<f32, Cpu>>) -> Result<TrainTapped<Self>, NnError> {
///         let tap = Tap::from_output("input", x.with_empty_tape())?;
///         Ok((x, vec![tap]))
///     }
///     fn forward_tapped(&self, x: Tensor<(usize, Const<2>), f32, Cpu>) -> Result<InferTapped<Self>, NnError> {
///         Ok((x.clone(), vec![Tap::from_output("input", x)?]))
///     }
/// }
///
/// let dev = Cpu::default();
/// let (y, taps) = Identity.forward_tapped(dev.tensor([[1.0, 2.0]]).realize()).unwrap();
/// assert_eq!(taps[0].map.as_vec(), y.as_vec());
/// assert_eq!(Identity::tap("input").unwrap().shape, ShapeInfo::Flat { n: 2 });
/// assert_eq!(Identity::tap_names(), "input");
/// ```
pub trait TappedForward: Compressible + Sized {
    /// The batch shape the model takes (`(usize, Const<C>, Const<H>, Const<W>)` for a derived model).
    type Input: Shape;
    /// The batch shape it gives (`(usize, Const<K>)` for a classifier).
    type Output: Shape;
    /// The tapped layers, in forward order.
    const TAPS: &'static [TapInfo];

    /// The training forward (BatchNorm on batch statistics, Dropout active): the logits on the tape,
    /// and the taps in [`Self::TAPS`] order, each on an empty tape sharing the model's gradients.
    fn forward_train_tapped(
        &mut self,
        x: Tensor<Self::Input, f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Result<TrainTapped<Self>, NnError>;

    /// The inference forward (no tape, running statistics, no dropout): logits and taps.
    fn forward_tapped(&self, x: Tensor<Self::Input, f32, Cpu>) -> Result<InferTapped<Self>, NnError>;

    /// The tapped layer named `name`.
    fn tap(name: &str) -> Option<&'static TapInfo> {
        Self::TAPS.iter().find(|tap| tap.name == name)
    }

    /// The tapped layers' names, comma-separated, for error messages.
    fn tap_names() -> String {
        Self::TAPS.iter().map(|tap| tap.name).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn a_tap_view_keeps_values_and_id_and_passes_gradients_back() {
        let dev = Cpu::default();
        let w: Tensor<(usize, Const<2>, Const<1>, Const<2>), f32, Cpu> =
            dev.tensor_from_vec(vec![1.0, -2.0, 3.0, 0.5], (1, Const, Const, Const));
        let h = w.leaky_trace() * 2.0;
        let tap = Tap::from_output("h", h.with_empty_tape()).unwrap();
        assert_eq!(*tap.map.shape(), (1, 2, 1, 2));
        assert_eq!(tap.map.as_vec(), vec![2.0, -4.0, 6.0, 1.0]);
        // Loss = sum(h) + sum(tap²): d/dw = 2 + 2·(2w)·2 = 2 + 8w.
        let (tap, tape) = tap.split();
        let (h, h_tape) = h.split_tape();
        let squared = tap.map.retaped::<OwnedTape<f32, Cpu>>().square().sum::<Rank0, _>();
        let loss = h.put_tape(h_tape.merge(tape)).sum::<Rank0, _>() + squared;
        let grads = loss.backward();
        let expected: Vec<f32> = w.as_vec().iter().map(|w| 2.0 + 8.0 * w).collect();
        assert_eq!(grads.get(&w).as_vec(), expected);
    }

    #[test]
    fn flat_outputs_become_one_by_one_maps_and_flat_shapes_read_as_n_1_1() {
        let dev = Cpu::default();
        let x: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0], (1, Const));
        let tap = Tap::from_output("fc", x).unwrap();
        assert_eq!((*tap.map.shape(), tap.map.as_vec()), ((1, 3, 1, 1), vec![1.0, 2.0, 3.0]));
        assert_eq!(TapInfo { name: "c", shape: ShapeInfo::Chw { c: 4, h: 5, w: 6 } }.chw(), (4, 5, 6));
    }
}
