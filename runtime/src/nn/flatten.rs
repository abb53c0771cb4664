//! `Flatten`: `(batch, C, H, W) → (batch, C·H·W)`, the bridge from convolutions to `Linear`.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::{Const, Cpu, Dim, HasShape, RealizeTo, ReshapeTo, Tape, Tensor};

use crate::nn::NnError;

/// Flattens each sample's `C × H × W` values into one row, in `(c, h, w)` order as PyTorch's
/// `nn.Flatten()` does, so a `Linear` that follows sees column `c·H·W + h·W + w`.
///
/// As a [`Module`] it gives `(batch, usize)`; [`FlattenTo::flatten_to`] (or [`FlattenTo::try_forward_to`])
/// checks the size against a `Linear<N, _>`'s `N` and gives `(batch, Const<N>)`, or
/// [`NnError::FlattenMismatch`] naming `C × H × W` and `N`. A contiguous input is relabelled without a
/// copy; a strided view is copied once.
///
/// ```
/// use fasterai_runtime::nn::{Flatten, FlattenTo, Linear, NnError};
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<(usize, Const<64>, usize, usize), f32, Cpu> = dev.zeros_like(&(8, Const, 7, 7));
/// let rows = Flatten.try_forward(x.clone())?;
/// assert_eq!(*rows.shape(), (8, 3136));
///
/// let fc1: Linear<3136, 256> = BuildModule::build(&dev);
/// let hidden = fc1.forward(Flatten::flatten_to::<3136>(x.clone())?);
/// assert_eq!(*hidden.shape(), (8, Const::<256>));
///
/// let err = Flatten::flatten_to::<3137>(x).unwrap_err();
/// assert!(matches!(err, NnError::FlattenMismatch { computed: 3136, expected: 3137, .. }));
/// # Ok::<(), NnError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

impl ZeroSizedModule for Flatten {}
impl NonMutableModule for Flatten {}

/// `(batch, Const<N>)` rows of `N` features, on tape `T`: what a `Linear<N, _>` takes.
pub type FlatRows<const N: usize, T> = Tensor<(usize, Const<N>), f32, Cpu, T>;

/// The checked flatten: `(batch, C, H, W) → (batch, Const<N>)`, refusing any `C × H × W ≠ N`.
///
/// Implemented by [`Flatten`] for every `(B, C, H, W)` `f32` CPU tensor and tape, so both
/// `Flatten::flatten_to::<N>(x)` and `flatten.try_forward_to::<N>(x)` infer the input type.
pub trait FlattenTo<Input> {
    /// The tape the input carries and the output keeps.
    type Tape: Tape<f32, Cpu>;

    /// Flattens `input` into `(batch, Const<N>)` after checking that `C × H × W = N`; otherwise
    /// [`NnError::FlattenMismatch`] naming both.
    fn flatten_to<const N: usize>(input: Input) -> Result<FlatRows<N, Self::Tape>, NnError>;

    /// [`FlattenTo::flatten_to`] as a method, for code that holds the layer.
    fn try_forward_to<const N: usize>(
        &self,
        input: Input,
    ) -> Result<FlatRows<N, Self::Tape>, NnError> {
        Self::flatten_to::<N>(input)
    }
}

/// `(batch, C·H·W)` rows of a `(B, C, H, W)` tensor: a relabelling when it is contiguous.
fn into_rows<B: Dim, C: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>>(
    input: Tensor<(B, C, H, W), f32, Cpu, T>,
) -> Result<Tensor<(usize, usize), f32, Cpu, T>, NnError> {
    let (b, c, h, w) = *input.shape();
    input
        .try_reshape_like(&(b.size(), c.size() * h.size() * w.size()))
        .map_err(|source| NnError::OpDeviceFailure {
            op: "flatten",
            source,
        })
}

impl<B: Dim, C: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> FlattenTo<Tensor<(B, C, H, W), f32, Cpu, T>>
    for Flatten
{
    type Tape = T;

    fn flatten_to<const N: usize>(
        input: Tensor<(B, C, H, W), f32, Cpu, T>,
    ) -> Result<FlatRows<N, T>, NnError> {
        let (_, c, h, w) = *input.shape();
        let (channels, height, width) = (c.size(), h.size(), w.size());
        let mismatch = || NnError::FlattenMismatch {
            channels,
            height,
            width,
            computed: channels * height * width,
            expected: N,
        };
        if channels * height * width != N {
            return Err(mismatch());
        }
        into_rows(input)?
            .try_realize::<(usize, Const<N>)>()
            .map_err(|_| mismatch())
    }
}

impl<B: Dim, C: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> Module<Tensor<(B, C, H, W), f32, Cpu, T>>
    for Flatten
{
    type Output = Tensor<(usize, usize), f32, Cpu, T>;
    type Error = NnError;

    fn try_forward(
        &self,
        input: Tensor<(B, C, H, W), f32, Cpu, T>,
    ) -> Result<Self::Output, NnError> {
        into_rows(input)
    }
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;

    #[test]
    fn keeps_pytorch_order_and_gradients() {
        let dev = Cpu::default();
        let values: Vec<f32> = (0..2 * 3 * 2 * 2).map(|v| v as f32).collect();
        let x: Tensor<(usize, Const<3>, usize, usize), f32, Cpu> =
            dev.tensor_from_vec(values.clone(), (2, Const, 2, 2));
        let rows = Flatten.try_forward(x.leaky_trace()).unwrap();
        assert_eq!(*rows.shape(), (2, 12));
        assert_eq!(rows.as_vec(), values);
        let weights: Tensor<(usize, usize), f32, Cpu> =
            dev.tensor_from_vec(values.clone(), (2, 12));
        let grad = (rows * weights).sum().backward().get(&x).as_vec();
        assert_eq!(grad, values);
    }

    #[test]
    fn strided_input_is_flattened_in_logical_order() {
        let dev = Cpu::default();
        let stored: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.tensor_from_vec((0..12).map(|v| v as f32).collect(), (1, 3, 2, 2));
        let view = stored.clone().permute::<_, Axes4<0, 1, 3, 2>>();
        let want = view.as_vec();
        assert_eq!(Flatten.try_forward(view).unwrap().as_vec(), want);
    }

    #[test]
    fn checked_flatten_gives_a_typed_width() {
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.ones_like(&(5, 4, 3, 2));
        let rows: Tensor<(usize, Const<24>), f32, Cpu, OwnedTape<f32, Cpu>> =
            Flatten.try_forward_to::<24>(x.leaky_trace()).unwrap();
        assert_eq!(rows.shape().0, 5);
    }

    #[test]
    fn mismatch_names_the_computed_and_expected_sizes() {
        let dev = Cpu::default();
        let x: Tensor<(usize, Const<64>, usize, usize), f32, Cpu> =
            dev.zeros_like(&(2, Const, 6, 6));
        let err = Flatten::flatten_to::<3136>(x).unwrap_err();
        assert!(
            matches!(
                err,
                NnError::FlattenMismatch {
                    channels: 64,
                    height: 6,
                    width: 6,
                    computed: 2304,
                    expected: 3136
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("64 × 6 × 6 = 2304"), "{message}");
        assert!(message.contains("3136"), "{message}");
    }
}
