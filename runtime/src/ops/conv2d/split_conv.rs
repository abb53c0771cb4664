//! The batch-1 forward of a stride-1 convolution on the direct kernel of the fp32 plan, split over
//! the cores by output channels.
//!
//! With fewer images than threads, the images cannot be spread over the cores; convs over up to
//! [`DIRECT_MAX_CHANNELS`] channels then run [`ConvF32`], each rayon task taking a share of the
//! output channels (a multiple of the tile's 8 rows) and writing its own contiguous planes of the
//! output. Rayon, not the kernels' spinning team: between the layers of an eager forward the cores
//! run rayon's passes (batch norm, pooling), which a team still spinning after its last job would
//! compete with (measured: SmallVgg's eager forward 10× slower on a loaded machine).
//!
//! The weights are packed at every call, since an eager model's weights may change between calls.
//! Other convs (strided, pointwise, wider) stay on im2col + GEMM: Winograd's weight transform,
//! redone at every call, took as long as it saved on VGG16-BN.

use rayon::prelude::*;

use super::cpu_kernel::direct_image;
use crate::kernels::{Accumulate, ConvF32, ConvGeometry, KernelError};

/// Below this many multiply-adds per image a conv runs on one core: waking the rayon workers
/// would cost more than the work saved.
const SPLIT_MACS: usize = 1 << 18;

/// Convs over at most this many input channels run the direct kernel, which sums their whole
/// depth in registers; wider ones stay on im2col + GEMM. Measured on VGG16-BN and
/// ResNet-18's eager forwards, one thread: the direct kernel up to 128 channels took 0.93–0.94×
/// the time of im2col + GEMM for all convs, up to 256 channels 0.94–1.0×.
const DIRECT_MAX_CHANNELS: usize = 128;

/// A batch-1 conv as shares of its output channels (see the module docs).
pub(super) struct SplitConv {
    /// Each share with its count of output channels, in channel order.
    shares: Vec<(ConvF32, usize)>,
    /// Output positions per channel.
    plane: usize,
}

impl SplitConv {
    /// The split conv of geometry `g` with row-major weights `[O, C·K·K]`, or `None` where
    /// im2col + GEMM should run: when the images already spread over the cores
    /// (`image_parallel`), for strided or pointwise convs, and for wide convs.
    pub(super) fn new(image_parallel: bool, g: &ConvGeometry, w: &[f32], out_channels: usize, bias: Option<&[f32]>) -> Option<Self> {
        if image_parallel || g.stride() != 1 || g.is_pointwise() || out_channels == 0 {
            return None;
        }
        if g.channels() > DIRECT_MAX_CHANNELS {
            return None;
        }
        let depth = g.col_rows();
        let macs = out_channels * depth * g.out_len();
        let parts = if macs < SPLIT_MACS { 1 } else { rayon::current_num_threads().clamp(1, out_channels.div_ceil(8)) };
        let share = out_channels.div_ceil(parts).div_ceil(8) * 8;
        let mut shares = Vec::with_capacity(parts);
        for first in (0..out_channels).step_by(share) {
            let channels = share.min(out_channels - first);
            let weight = &w[first * depth..(first + channels) * depth];
            let bias = bias.map(|b| &b[first..first + channels]);
            shares.push((ConvF32::new(*g, weight, channels, bias, false).ok()?, channels));
        }
        Some(Self { shares, plane: g.out_len() })
    }

    /// `out = conv(x) + bias` for one `[C, H, W]` image (`out` is `[O, OH, OW]`, overwritten).
    pub(super) fn forward(&self, x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
        let mut outs = Vec::with_capacity(self.shares.len());
        let mut rest = out;
        for (_, channels) in &self.shares {
            let (head, tail) = rest.split_at_mut((channels * self.plane).min(rest.len()));
            outs.push(head);
            rest = tail;
        }
        if let [(conv, _)] = self.shares.as_slice() {
            return direct_image(conv, x, outs.pop().expect("one share, one slice"), Accumulate::Overwrite);
        }
        self.shares.par_iter().zip(outs).try_for_each(|((conv, _), out)| direct_image(conv, x, out, Accumulate::Overwrite))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::ConvScratchF32;
    use crate::test_support::random_vec;
    use rand::{rngs::SmallRng, SeedableRng};

    /// The split conv against the portable kernel over all channels.
    fn check(c: usize, o: usize, side: usize, k: usize) {
        let mut rng = SmallRng::seed_from_u64((c * 31 + o * 7 + side) as u64);
        let g = ConvGeometry::new(c, side, side, k, 1, k / 2).unwrap();
        let (w, b, x) = (random_vec(&mut rng, o * c * k * k, 0.2), random_vec(&mut rng, o, 0.2), random_vec(&mut rng, g.image_len(), 1.0));
        let split = SplitConv::new(false, &g, &w, o, Some(&b)).expect("a conv the split takes");
        let mut got = vec![f32::NAN; o * g.out_len()];
        split.forward(&x, &mut got).unwrap();
        let whole = ConvF32::new(g, &w, o, Some(&b), false).unwrap();
        let mut expected = vec![0.0; got.len()];
        whole.forward_generic(&x, &mut expected, &mut ConvScratchF32::default()).unwrap();
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-4 * scale, "C={c} O={o} {side}² k={k}: off by {worst}");
    }

    #[test]
    fn shares_of_the_output_channels_equal_the_whole_conv() {
        check(3, 13, 17, 3); // tiny: one share
        check(32, 44, 28, 3); // direct, a share of 24 and one of 20
        check(64, 64, 12, 5); // direct, 5×5
        check(128, 40, 9, 3); // the widest direct, shares of 16, 16 and 8 at most
    }

    #[test]
    fn strided_pointwise_and_wide_convs_stay_on_the_gemm() {
        let w = vec![0.0; 1024 * 9];
        let strided = ConvGeometry::new(4, 9, 9, 3, 2, 1).unwrap();
        assert!(SplitConv::new(false, &strided, &w[..16 * 36], 16, None).is_none());
        let pointwise = ConvGeometry::new(4, 9, 9, 1, 1, 0).unwrap();
        assert!(SplitConv::new(false, &pointwise, &w[..16 * 4], 16, None).is_none());
        let wide = ConvGeometry::new(256, 7, 7, 3, 1, 1).unwrap();
        assert!(SplitConv::new(false, &wide, &w[..4 * 256 * 9], 4, None).is_none());
        let images = ConvGeometry::new(4, 9, 9, 3, 1, 1).unwrap();
        assert!(SplitConv::new(true, &images, &w[..16 * 36], 16, None).is_none());
    }
}
