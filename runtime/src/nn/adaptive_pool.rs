//! `AdaptiveAvgPool2D`: average pooling to a fixed output size, whatever the input size.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::{Cpu, Dim, Tape, Tensor};

use super::pool2d::pool_layer;
use crate::nn::NnError;
use crate::ops::pool2d::try_adaptive_avg_pool2d;

/// Average pooling of any `H × W` image into `OH × OW` bins: PyTorch's `nn.AdaptiveAvgPool2d((OH, OW))`.
///
/// Output row `i` averages input rows `floor(i·H/OH) .. ceil((i+1)·H/OH)`, columns likewise, so
/// neighbouring bins may share pixels and a smaller input is spread over more bins (torchvision's
/// VGG16-BN pools its 4 × 4 map at 128 × 128 input into 7 × 7 this way).
/// Input `(batch, C, H, W)`, output `(batch, C, OH, OW)`. Errors: `OH` or `OW` of 0, an empty image.
///
/// ```
/// use fasterai_runtime::nn::AdaptiveAvgPool2D;
/// use dfdx::prelude::*;
///
/// let dev = Cpu::default();
/// let x: Tensor<(usize, Const<512>, usize, usize), f32, Cpu> = dev.ones_like(&(2, Const, 4, 4));
/// let y = AdaptiveAvgPool2D::<7, 7>.try_forward(x)?;
/// assert_eq!(*y.shape(), (2, Const::<512>, 7, 7));
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveAvgPool2D<const OH: usize, const OW: usize>;

pool_layer!(AdaptiveAvgPool2D<OH, OW>, |input| try_adaptive_avg_pool2d(input, OH, OW));

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;
    use crate::ops::assert_kernel_error;

    /// VGG16-BN at 3×128×128 reaches the classifier with a 512×4×4 map; the layer must give 512×7×7.
    #[test]
    fn vgg16_bn_head_upsamples_4x4_to_7x7() {
        let dev = Cpu::default();
        let pool = dev.build_module::<AdaptiveAvgPool2D<7, 7>, f32>();
        assert_eq!(NumParams::<f32, Cpu>::num_trainable_params(&pool), 0);
        // x[c][h][w] = c + 4h + w: every bin mean is c + 4·m_h + m_w with m = 0, .5, 1, 1.5, 2, 2.5, 3
        // (the bins of 4 into 7 are {0} {0,1} {1} {1,2} {2} {2,3} {3}).
        let values: Vec<f32> = (0..512)
            .flat_map(|c| (0..16).map(move |i| (c + 4 * (i / 4) + i % 4) as f32))
            .collect();
        let x: Tensor<(usize, Const<512>, usize, usize), f32, Cpu> =
            dev.tensor_from_vec(values, (1, Const, 4, 4));
        let y = pool.try_forward(x.leaky_trace()).unwrap();
        assert_eq!(*y.shape(), (1, Const::<512>, 7, 7));
        let out = y.as_vec();
        let m = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
        for (k, &v) in out.iter().enumerate() {
            let (c, i, j) = (k / 49, (k % 49) / 7, k % 7);
            assert_eq!(
                v,
                c as f32 + 4.0 * m[i] + m[j],
                "channel {c} bin ({i}, {j})"
            );
        }
        // Each input pixel is read by 1 or 2 bins per axis, bins of 1 or 2 pixels: the gradient of the
        // sum is Σ over the bins reading the pixel of 1/|bin|; corners: bins {0} (1) and {0,1} (1/2) → 1.5 per axis.
        let grad = y.sum().backward().get(&x).as_vec();
        assert_eq!(grad[0], 1.5 * 1.5);
    }

    #[test]
    fn zero_output_size_is_an_error() {
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.zeros_like(&(1, 1, 4, 4));
        let err = AdaptiveAvgPool2D::<0, 3>.try_forward(x).unwrap_err();
        assert_kernel_error!(err, PoolZeroParameter { what: "output height", .. });
    }
}
