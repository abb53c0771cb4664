//! `GlobalAvgPool`: one mean per channel, `(batch, C, H, W) → (batch, C)`.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::{Cpu, Dim, Tape, Tensor};

use crate::nn::NnError;
use crate::ops::pool2d::try_global_avg_pool2d;

/// Global average pooling: each channel's `H × W` image becomes its mean, so the output `(batch, C)`
/// feeds a `Linear<C, _>` directly (PyTorch's `AdaptiveAvgPool2d(1)` followed by `Flatten`).
/// Errors: an empty image.
///
/// ```
/// use fasterai_runtime::nn::GlobalAvgPool;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<(usize, Const<2>, usize, usize), f32, Cpu> =
///     dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0], (1, Const, 2, 2));
/// let y: Tensor<(usize, Const<2>), f32, Cpu> = GlobalAvgPool.try_forward(x)?;
/// assert_eq!(y.as_vec(), [2.5, 10.0]);
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAvgPool;

impl ZeroSizedModule for GlobalAvgPool {}
impl NonMutableModule for GlobalAvgPool {}

impl<C: Dim, T: Tape<f32, Cpu>> Module<Tensor<(usize, C, usize, usize), f32, Cpu, T>>
    for GlobalAvgPool
{
    type Output = Tensor<(usize, C), f32, Cpu, T>;
    type Error = NnError;

    fn try_forward(
        &self,
        input: Tensor<(usize, C, usize, usize), f32, Cpu, T>,
    ) -> Result<Self::Output, NnError> {
        try_global_avg_pool2d(input)
    }
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;

    #[test]
    fn feeds_a_linear_layer_and_backpropagates() {
        let dev = Cpu::default();
        let pool = dev.build_module::<GlobalAvgPool, f32>();
        assert_eq!(NumParams::<f32, Cpu>::num_trainable_params(&pool), 0);
        let fc = dev.build_module::<dfdx::nn::builders::Linear<3, 2>, f32>();
        let x: Tensor<(usize, Const<3>, usize, usize), f32, Cpu> = dev.ones_like(&(7, Const, 4, 5));
        let pooled = pool.try_forward(x.leaky_trace()).unwrap();
        let y = fc.forward(pooled);
        assert_eq!(*y.shape(), (7, Const::<2>));
        let grad = y.sum().backward().get(&x).as_vec();
        // d(Σ y)/dx = (Σ_o W[o][c]) / (H·W) for every pixel of channel c.
        let w = fc.weight.as_vec();
        for c in 0..3 {
            let want = (w[c] + w[3 + c]) / 20.0;
            assert!((grad[c * 20] - want).abs() < 1e-6, "channel {c}");
        }
    }
}
