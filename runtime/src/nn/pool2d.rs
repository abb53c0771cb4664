//! `MaxPool2D` and `AvgPool2D`: windowed pooling layers with a square `K × K` window.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::{Cpu, Dim, Tape, Tensor};

use crate::nn::NnError;
use crate::ops::pool2d::{try_avg_pool2d, try_max_pool2d, PoolWindow};

/// Max pooling over `K × K` windows moved by `S`, on an input padded by `P` on every side (padding
/// never wins): PyTorch's `nn.MaxPool2d(K, S, P)`.
///
/// Input `(batch, C, H, W)`, output `(batch, C, (H + 2P − K) / S + 1, (W + 2P − K) / S + 1)`, for any
/// channel dim `C` and any tape; the backward pass sends each output's gradient to the input that won
/// (the first maximum on ties). Errors: `P > K / 2`, a window larger than the padded image, `K` or `S` of 0.
///
/// ```
/// use fasterai_runtime::nn::MaxPool2D;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let pool: MaxPool2D<2> = dev.build_module::<MaxPool2D<2>, f32>();
/// let x: Tensor<(usize, Const<32>, usize, usize), f32, Cpu> = dev.zeros_like(&(64, Const, 28, 28));
/// let y = pool.try_forward(x)?;
/// assert_eq!(*y.shape(), (64, Const::<32>, 14, 14));
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2D<const K: usize, const S: usize = K, const P: usize = 0>;

/// Average pooling over `K × K` windows moved by `S`, on an input padded with zeros by `P` on every
/// side; every window is divided by K², padding included: PyTorch's `nn.AvgPool2d(K, S, P)` with its
/// default `count_include_pad=True`.
///
/// Input `(batch, C, H, W)`, output `(batch, C, (H + 2P − K) / S + 1, (W + 2P − K) / S + 1)`. Errors as
/// for [`MaxPool2D`].
///
/// ```
/// use fasterai_runtime::nn::AvgPool2D;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
///     dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (1, 1, 2, 2));
/// let y = AvgPool2D::<2>.try_forward(x)?;
/// assert_eq!(y.as_vec(), [2.5]);
/// // With padding 1, the window at the corner sees one pixel and three zeros: 1 / 4.
/// let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.ones_like(&(1, 1, 3, 3));
/// let y = AvgPool2D::<2, 2, 1>.try_forward(x)?;
/// assert_eq!(y.as_vec(), [0.25, 0.5, 0.5, 1.0]);
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2D<const K: usize, const S: usize = K, const P: usize = 0>;

/// Implements the dfdx traits of a pooling layer with const parameters: a zero-sized module that
/// changes nothing, whose `Module` on `(batch, C, H, W)` images (any channel dim, any tape) computes
/// `$forward` from `$input`.
macro_rules! pool_layer {
    ($layer:ident<$($param:ident),+>, |$input:ident| $forward:expr) => {
        impl<$(const $param: usize),+> ZeroSizedModule for $layer<$($param),+> {}
        impl<$(const $param: usize),+> NonMutableModule for $layer<$($param),+> {}

        impl<$(const $param: usize,)+ C: Dim, T: Tape<f32, Cpu>>
            Module<Tensor<(usize, C, usize, usize), f32, Cpu, T>> for $layer<$($param),+>
        {
            type Output = Tensor<(usize, C, usize, usize), f32, Cpu, T>;
            type Error = NnError;

            fn try_forward(
                &self,
                $input: Tensor<(usize, C, usize, usize), f32, Cpu, T>,
            ) -> Result<Self::Output, NnError> {
                $forward
            }
        }
    };
}
pub(super) use pool_layer;

macro_rules! windowed_pool {
    ($layer:ident, $op:ident) => {
        impl<const K: usize, const S: usize, const P: usize> $layer<K, S, P> {
            /// The window as the op sees it.
            pub const WINDOW: PoolWindow = PoolWindow {
                kernel: K,
                stride: S,
                padding: P,
            };
        }

        pool_layer!($layer<K, S, P>, |input| $op(input, Self::WINDOW));
    };
}

windowed_pool!(MaxPool2D, try_max_pool2d);
windowed_pool!(AvgPool2D, try_avg_pool2d);

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;
    use crate::ops::assert_kernel_error;

    #[test]
    fn stride_and_padding_default_like_pytorch() {
        assert_eq!(
            MaxPool2D::<3>::WINDOW,
            PoolWindow {
                kernel: 3,
                stride: 3,
                padding: 0
            }
        );
        assert_eq!(
            AvgPool2D::<3, 2>::WINDOW,
            PoolWindow {
                kernel: 3,
                stride: 2,
                padding: 0
            }
        );
        assert_eq!(
            MaxPool2D::<3, 1, 1>::WINDOW,
            PoolWindow {
                kernel: 3,
                stride: 1,
                padding: 1
            }
        );
    }

    #[test]
    fn layers_are_parameterless_dfdx_modules() {
        let dev = Cpu::default();
        let mut pool = dev.build_module::<MaxPool2D<2>, f32>();
        assert_eq!(NumParams::<f32, Cpu>::num_trainable_params(&pool), 0);
        let avg = dev.build_module::<AvgPool2D<2>, f32>();
        assert_eq!(NumParams::<f32, Cpu>::num_trainable_params(&avg), 0);
        let x: Tensor<(usize, Const<3>, usize, usize), f32, Cpu> = dev.ones_like(&(7, Const, 5, 6));
        // forward, forward_mut and a taped forward give the same shape.
        let a = pool.try_forward(x.clone()).unwrap();
        let b = pool.try_forward_mut(x.clone()).unwrap();
        let c = pool.try_forward(x.leaky_trace()).unwrap();
        assert_eq!(*a.shape(), (7, Const::<3>, 2, 3));
        assert_eq!(a.as_vec(), b.as_vec());
        assert_eq!(a.as_vec(), c.as_vec());
    }

    #[test]
    fn max_pool_layer_trains_through_the_tape() {
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
            dev.tensor_from_vec(vec![1.0, 4.0, 2.0, 3.0], (1, 1, 2, 2));
        let y = MaxPool2D::<2>.try_forward(x.leaky_trace()).unwrap();
        let grads = y.sum().backward();
        assert_eq!(grads.get(&x).as_vec(), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn too_small_image_is_an_error_not_a_panic() {
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.zeros_like(&(1, 1, 2, 2));
        let err = MaxPool2D::<3>.try_forward(x.clone()).unwrap_err();
        assert_kernel_error!(err, PoolWindowTooLarge { kernel: 3, padded_height: 2, .. });
        let err = AvgPool2D::<3, 1, 2>.try_forward(x).unwrap_err();
        assert_kernel_error!(err, PoolPaddingTooLarge { padding: 2, max_padding: 1, .. });
    }
}
