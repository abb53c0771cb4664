//! A 3×3 stride-1 fp32 convolution by Winograd's minimal filtering `F(2×2, 3×3)`: every 2×2 block
//! of outputs from a 4×4 block of input with 16 multiplies per input channel instead of 36, so
//! 2.25× fewer multiply-adds than [`ConvF32`](super::ConvF32) on the large layers of VGG-style nets.
//!
//! With `d` a 4×4 input tile, `g` a 3×3 kernel: `y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`. Summed over input
//! channels, the elementwise products become 16 independent GEMMs, `M[ξ] = U[ξ] · V[ξ]` with
//! `U[ξ]` the `O × C` transformed weights (computed once) and `V[ξ]` the `C × T` transformed input
//! tiles. The output transform adds the bias and applies the ReLU. Threads of
//! [`Team::global`](super::team::Team) take input channels for the input transform, then output
//! channels for the 16 GEMMs and their output transform.
//!
//! The transforms (in `winograd_transforms.rs`) are loops over a channel's tiles that LLVM
//! vectorises; the 16 products run on the `gemm` crate. The transforms' constants are 0, ±1 and
//! ½: results equal the direct convolution up to float rounding (the tests compare with im2col +
//! the plain GEMM).
//!
//! ```
//! use fasterai_runtime::kernels::{ConvGeometry, Parallelism, WinogradConv, WinogradScratch};
//! let g = ConvGeometry::new(1, 4, 4, 3, 1, 1)?;
//! let identity = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
//! let conv = WinogradConv::new(g, &identity, 1, None, false)?;
//! let image: Vec<f32> = (0..16).map(|v| v as f32).collect();
//! let mut out = vec![0.0; 16];
//! conv.forward(&image, &mut out, &mut WinogradScratch::default(), Parallelism::Sequential)?;
//! assert_eq!(out, image);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use super::team::{for_each_chunk, try_for_each_chunk, Team};
use super::winograd_transforms::{copy_run, place_outputs, split_phases, transform_input, transform_kernel, transform_output, TileGrid, XI};
use super::{gemm, Accumulate, ConvGeometry, KernelError, MatMut, MatRef, Parallelism};

/// A 3×3 stride-1 conv with its weights transformed for `F(2×2, 3×3)`. See the module docs.
#[derive(Debug, Clone)]
pub struct WinogradConv {
    geometry: ConvGeometry,
    out_channels: usize,
    /// `U[ξ]`, `ξ = 4·row + col`: sixteen row-major `O × C` matrices.
    transformed: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
}

/// Buffers a [`WinogradConv`] reuses from call to call.
#[derive(Debug, Clone, Default)]
pub struct WinogradScratch {
    /// `V`: `[C, 16, T]`.
    tiles: Vec<f32>,
    /// `M`: `[O, 16, T]`.
    products: Vec<f32>,
}

impl WinogradConv {
    /// A conv of geometry `g` (3×3 kernel, stride 1, any padding) with row-major weights
    /// `[O, C·3·3]`, an optional bias per output channel and an optional fused ReLU.
    pub fn new(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool) -> Result<Self, KernelError> {
        if g.stride() != 1 {
            return Err(KernelError::StrideNotOne { stride: g.stride() });
        }
        if g.kernel() != 3 {
            return Err(KernelError::KernelNotThree { kernel: g.kernel() });
        }
        let c = g.channels();
        if weight.len() != out_channels * c * 9 {
            return Err(KernelError::OperandLength { operand: "weight", expected: out_channels * c * 9, found: weight.len() });
        }
        if let Some(b) = bias {
            if b.len() != out_channels {
                return Err(KernelError::OperandLength { operand: "bias", expected: out_channels, found: b.len() });
            }
        }
        let mut transformed = vec![0.0; XI * out_channels * c];
        for (oc, kernel) in weight.chunks_exact(9).enumerate() {
            let u = transform_kernel(kernel.try_into().expect("chunks of 9"));
            for (xi, &v) in u.iter().enumerate() {
                transformed[xi * out_channels * c + oc] = v;
            }
        }
        let bias = bias.map_or_else(|| vec![0.0; out_channels], <[f32]>::to_vec);
        Ok(Self { geometry: g, out_channels, transformed, bias, relu })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// `out = relu?(conv(x) + bias)`: one `[C, H, W]` image in, `[O, OH, OW]` out.
    /// [`Parallelism::AllCores`] spreads channels over [`Team::global`](super::team::Team).
    pub fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut WinogradScratch, parallelism: Parallelism) -> Result<(), KernelError> {
        self.run(x, out, scratch, parallelism, (false, self.relu))
    }

    /// `out = relu?(conv(x) + bias + out)` with the ReLU given here instead of the conv's own: the
    /// add that ends a residual block, read in the output transform (`out` holds the skip). The
    /// sum is `(conv + bias) + skip`, as the separate add computes it: the same bits.
    pub fn forward_add(&self, x: &[f32], out: &mut [f32], scratch: &mut WinogradScratch, parallelism: Parallelism, relu: bool) -> Result<(), KernelError> {
        self.run(x, out, scratch, parallelism, (true, relu))
    }

    fn run(&self, x: &[f32], out: &mut [f32], scratch: &mut WinogradScratch, parallelism: Parallelism, epilogue: (bool, bool)) -> Result<(), KernelError> {
        let g = &self.geometry;
        let (c, o) = (g.channels(), self.out_channels);
        let (oh, ow) = (g.out_height(), g.out_width());
        if x.len() != g.image_len() || out.len() != o * oh * ow {
            return Err(KernelError::ConvBuffers {
                input: x.len(),
                weight: self.transformed.len() / XI * 9,
                output: out.len(),
                expected_input: g.image_len(),
                expected_weight: o * c * 9,
                expected_output: o * oh * ow,
            });
        }
        if o == 0 || oh == 0 || ow == 0 {
            return Ok(());
        }
        let grid = TileGrid::new(oh, ow);
        let (th, tw) = (grid.th, grid.tw);
        let t = th * tw;
        let (h, w) = (g.height(), g.width());
        scratch.tiles.resize(c * XI * t, 0.0);
        scratch.products.resize(o * XI * t, 0.0);
        let parallel = parallelism == Parallelism::AllCores && Team::global().threads() > 1;
        let threads = if parallel { Team::global().threads() } else { 1 };
        let per_c = c.div_ceil(threads).max(1);
        for_each_chunk(&mut scratch.tiles, per_c * XI * t, parallel, |i, tiles| {
            let mut phases = vec![0.0; 4 * grid.phase_len()];
            let mut wide = vec![0.0; XI * grid.wide()];
            for (k, v) in tiles.chunks_exact_mut(XI * t).enumerate() {
                let k = i * per_c + k;
                split_phases(&x[k * h * w..][..h * w], (h, w), g.padding(), grid, &mut phases);
                transform_input(&phases, grid, &mut wide);
                // Without the junk tiles.
                for (v, wide) in v.chunks_exact_mut(t).zip(wide.chunks_exact(grid.wide())) {
                    for (v, wide) in v.chunks_exact_mut(tw).zip(wide.chunks_exact(grid.stride())) {
                        copy_run(v, &wide[..tw]);
                    }
                }
            }
        });
        let tiles = &scratch.tiles;
        let per_o = o.div_ceil(threads).max(1);
        let plane = oh * ow;
        // Output channels per task: their sixteen products, then their output transform.
        let mut outs: Vec<(&mut [f32], &mut [f32])> =
            scratch.products.chunks_mut(per_o * XI * t).zip(out.chunks_mut(per_o * plane)).collect();
        try_for_each_chunk(&mut outs, 1, parallel, |i, pair| {
            let (products, out) = &mut pair[0];
            let (o0, rows) = (i * per_o, out.len() / plane);
            for xi in 0..XI {
                let u = &self.transformed[xi * o * c..][..o * c];
                let lhs = MatRef::row_major(&u[o0 * c..(o0 + rows) * c], rows, c)?;
                let rhs = MatRef::new(&tiles[xi * t..], c, t, XI * t, 1)?;
                let dst = MatMut::new(&mut products[xi * t..], rows, t, XI * t, 1)?;
                gemm(dst, lhs, rhs, Accumulate::Overwrite, Parallelism::Sequential)?;
            }
            let mut y = vec![0.0; 4 * t];
            for (r, (m, out)) in products.chunks_exact(XI * t).zip(out.chunks_exact_mut(plane)).enumerate() {
                transform_output(m, &mut y);
                place_outputs(&mut y, grid, (oh, ow), self.bias[o0 + r], epilogue, out);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv_f32::tests::reference;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn equals_the_direct_convolution() {
        let mut rng = StdRng::seed_from_u64(9);
        // (C, H, W, P, O): odd and even sides (clipped edge tiles), paddings 0/1/2, one channel,
        // more channels than threads, non-square.
        for (c, h, w, p, o) in [(1, 4, 4, 1, 1), (3, 7, 5, 1, 4), (8, 6, 9, 0, 5), (2, 5, 5, 2, 3), (16, 14, 14, 1, 12), (5, 3, 3, 0, 2)] {
            let g = ConvGeometry::new(c, h, w, 3, 1, p).unwrap();
            let x: Vec<f32> = (0..g.image_len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let wt: Vec<f32> = (0..o * c * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for relu in [false, true] {
                let want = reference(g, &x, &wt, o, &b, relu);
                let conv = WinogradConv::new(g, &wt, o, Some(&b), relu).unwrap();
                let mut scratch = WinogradScratch::default();
                for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                    let mut got = vec![f32::NAN; want.len()];
                    conv.forward(&x, &mut got, &mut scratch, parallelism).unwrap();
                    let tol = 1e-5 * (c * 9) as f32;
                    for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                        assert!((a - e).abs() <= tol * (1.0 + e.abs()), "{c}x{h}x{w} p{p} o{o}: output {i}: {a} vs {e}");
                    }
                }
            }
        }
    }

    /// The add fused into the output transform gives the separate add's bits.
    #[test]
    fn the_fused_add_is_the_separate_add() {
        let mut rng = StdRng::seed_from_u64(10);
        let g = ConvGeometry::new(6, 7, 9, 3, 1, 1).unwrap();
        let o = 5;
        let x: Vec<f32> = (0..g.image_len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let wt: Vec<f32> = (0..o * 6 * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let skip: Vec<f32> = (0..o * g.out_len()).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let conv = WinogradConv::new(g, &wt, o, Some(&b), false).unwrap();
        let mut scratch = WinogradScratch::default();
        for relu in [false, true] {
            let mut want = vec![0.0; skip.len()];
            conv.forward(&x, &mut want, &mut scratch, Parallelism::Sequential).unwrap();
            for (y, s) in want.iter_mut().zip(&skip) {
                *y = if relu { (*y + s).max(0.0) } else { *y + s };
            }
            for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                let mut got = skip.clone();
                conv.forward_add(&x, &mut got, &mut scratch, parallelism, relu).unwrap();
                assert_eq!(got, want, "relu {relu}");
            }
        }
    }

    #[test]
    fn other_kernels_and_strides_are_errors() {
        let g = ConvGeometry::new(1, 5, 5, 3, 2, 1).unwrap();
        assert!(matches!(WinogradConv::new(g, &[0.0; 9], 1, None, false), Err(KernelError::StrideNotOne { stride: 2 })));
        let g = ConvGeometry::new(1, 5, 5, 5, 1, 1).unwrap();
        assert!(matches!(WinogradConv::new(g, &[0.0; 25], 1, None, false), Err(KernelError::KernelNotThree { kernel: 5 })));
        let g = ConvGeometry::new(2, 5, 5, 3, 1, 1).unwrap();
        assert!(matches!(WinogradConv::new(g, &[0.0; 17], 1, None, false), Err(KernelError::OperandLength { operand: "weight", .. })));
        let conv = WinogradConv::new(g, &[0.0; 18], 1, None, false).unwrap();
        let err = conv.forward(&[0.0; 49], &mut [0.0; 25], &mut WinogradScratch::default(), Parallelism::Sequential);
        assert!(matches!(err, Err(KernelError::ConvBuffers { input: 49, expected_input: 50, .. })));
    }
}
