//! A 3×3 stride-1 int8 convolution by Winograd's `F(2×2, 3×3)` in exact integers: the AVX2
//! tables' conv for the wide layers, where a CPU without VNNI multiplies bytes at only twice the
//! rate of floats while the fp32 plan's Winograd already does 2.25× fewer products.
//!
//! With `d = x − z_in` a 4×4 tile of the input (padding is real 0) and `g` a 3×3 kernel of `i8`
//! weights, `4·y = Aᵀ[(G' g G'ᵀ) ⊙ (Bᵀ d B)]A` with `G' = 2G = [[2, 0, 0], [1, 1, 1], [1, −1, 1],
//! [0, 0, 2]]`: every constant is an integer, so the sum is exact. `|Bᵀ d B| ≤ 1020` and
//! `|G' g G'ᵀ| ≤ 1143` fit `i16`; their products are summed over the input channels in pairs by
//! `vpmaddwd` (16 per instruction, each standing for 2.25 of the direct conv's). The sums wrap in
//! `i32`, but the result `4·y` fits `i32` for up to [`MAX_CHANNELS`] channels, so it is exact; `y =
//! Σ w·(x − z_in)` then goes through the layer's [`OutputStage`] with the bias `b_q` (the stage's
//! `b_q − z_in·Σ w` plus `z_in·Σ w`): the same integers as im2col + GEMM, bit for bit.
//!
//! The transformed weights are packed `[O/16][ξ][C/2][16][2]`: each `(ξ, 16 output channels)` panel
//! is what the `6 × 16` tile kernel reads for all of the input's channels. The input becomes a padded
//! `[H', W', C]` copy of `x − z_in` in `i16` (channels innermost, so a tile's transform runs over 16
//! channels per vector), then each thread transforms a chunk of tiles (`[ξ][tiles][C]`) and runs
//! the sixteen products and the output transform for its output channels.

use super::generic::im2col_u8::ConvShape;
use crate::quant::{requantize_one, ChannelRequant, OutputStage, QuantError};

/// Values of one transformed tile (4 × 4).
pub(crate) const XI: usize = 16;
/// Output channels per weight panel (the tile's width).
pub(crate) const OC_BLOCK: usize = 16;
/// Widest input: `4·|y| ≤ 4·9·C·127·255` must fit `i32` for the wrapping sums to be exact.
pub(crate) const MAX_CHANNELS: usize = 1024;

/// A 3×3 stride-1 int8 conv with its weights transformed for `F(2×2, 3×3)`. See the module docs.
///
/// ```
/// use fasterai_runtime::kernels::generic::im2col_u8::ConvShape;
/// use fasterai_runtime::kernels::WinogradU8;
/// use fasterai_runtime::quant::{ActivationQParams, OutputStage, QuantizedWeights};
/// // One channel, the identity kernel: the output is the input, requantized.
/// let shape = ConvShape::new(1, 4, 4, 3, 1, 1)?;
/// let weights = QuantizedWeights::quantize(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 1)?;
/// let q = ActivationQParams::from_range(0.0, 2.55)?;
/// let stage = OutputStage::new(q, &weights, None, q, false)?;
/// let conv = WinogradU8::new(shape, &weights.values, 1, &stage, q.zero_point)?;
/// let image: Vec<u8> = (0..16).map(|v| 10 * v).collect();
/// let mut out = vec![0; 16];
/// conv.forward(&image, &mut out, false)?;
/// assert_eq!(out, image);
/// # Ok::<(), fasterai_runtime::quant::QuantError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WinogradU8 {
    shape: ConvShape,
    out_channels: usize,
    /// Input channels rounded up to 16 (a vector of `i16`).
    padded_channels: usize,
    /// `G' g G'ᵀ`, `[O/16][ξ][C/2][16][2]` (zero past `O` and `C`).
    weights: Vec<i16>,
    /// Each channel's stage with the bias `b_q` (the input zero point not folded in).
    channels: Vec<ChannelRequant>,
    input_zero_point: u8,
    output_zero_point: u8,
    clamp_min: u8,
}

impl WinogradU8 {
    /// The conv of `shape` (3×3, stride 1, at most 1024 input channels) with
    /// row-major `[rows, C·3·3]` weights, the layer's output stage and its input zero point.
    pub fn new(shape: ConvShape, values: &[i8], rows: usize, stage: &OutputStage, zero_point: u8) -> Result<Self, QuantError> {
        if shape.kernel != 3 || shape.stride != 1 {
            return Err(QuantError::UnsupportedKernel { what: "a Winograd int8 conv needs a 3×3 kernel and stride 1" });
        }
        let c = shape.channels;
        if c > MAX_CHANNELS {
            return Err(QuantError::DepthTooLarge { depth: c * 9, max: MAX_CHANNELS * 9 });
        }
        if values.len() != rows * c * 9 {
            return Err(QuantError::LengthMismatch { what: "conv weights", expected: rows * c * 9, found: values.len() });
        }
        if stage.channels.len() != rows {
            return Err(QuantError::LengthMismatch { what: "output stage channels", expected: rows, found: stage.channels.len() });
        }
        let padded_channels = c.next_multiple_of(16).max(16);
        let blocks = rows.div_ceil(OC_BLOCK);
        let pairs = padded_channels / 2;
        let mut weights = vec![0i16; blocks * XI * pairs * OC_BLOCK * 2];
        let z = zero_point as i64;
        let mut channels = Vec::with_capacity(rows);
        for (o, row) in values.chunks_exact(c * 9).enumerate() {
            for (ci, kernel) in row.chunks_exact(9).enumerate() {
                let u = transform_kernel(kernel.try_into().expect("chunks of 9"));
                for (xi, &v) in u.iter().enumerate() {
                    weights[(((o / OC_BLOCK) * XI + xi) * pairs + ci / 2) * OC_BLOCK * 2 + (o % OC_BLOCK) * 2 + ci % 2] = v;
                }
            }
            let stage_channel = stage.channels[o];
            let bias = stage_channel.bias as i64 + z * row.iter().map(|&w| w as i64).sum::<i64>();
            let bias = i32::try_from(bias).map_err(|_| QuantError::BiasOutOfRange { channel: o, bias: 0.0, steps: bias as f64 })?;
            channels.push(ChannelRequant { multiplier: stage_channel.multiplier, bias });
        }
        Ok(Self {
            shape,
            out_channels: rows,
            padded_channels,
            weights,
            channels,
            input_zero_point: zero_point,
            output_zero_point: stage.output_zero_point,
            clamp_min: stage.clamp_min,
        })
    }

    /// Whether this CPU runs [`Self::forward`]'s kernels (AVX2 enabled, under any cap).
    pub fn available() -> bool {
        cfg!(target_arch = "x86_64") && crate::kernels::isa::Isa::Avx2.enabled()
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// One `[C, H, W]` image in, `[O, OH, OW]` out, through the output stage; on the team's
    /// threads when `parallel`. Errors if the CPU lacks AVX2 (see [`Self::available`]).
    pub fn forward(&self, x: &[u8], out: &mut [u8], parallel: bool) -> Result<(), QuantError> {
        self.check(x, out)?;
        #[cfg(target_arch = "x86_64")]
        if Self::available() {
            // SAFETY: AVX2 is enabled (checked just above).
            unsafe { super::x86_64::winograd_u8::forward(self, x, out, parallel) };
            return Ok(());
        }
        let _ = parallel;
        Err(QuantError::UnsupportedKernel { what: "the Winograd int8 conv runs on AVX2" })
    }

    /// The portable twin of [`Self::forward`]: the same transforms and integers, one tile and one
    /// channel at a time.
    pub fn forward_generic(&self, x: &[u8], out: &mut [u8]) -> Result<(), QuantError> {
        self.check(x, out)?;
        let g = self.geometry();
        let (c, pc) = (self.shape.channels, self.padded_channels);
        let padded = self.padded_input(x);
        let pairs = pc / 2;
        for ty in 0..g.tiles.0 {
            for tx in 0..g.tiles.1 {
                // Bᵀ d B of every channel.
                let u: Vec<[i16; XI]> = (0..c)
                    .map(|ci| {
                        let d: [[i16; 4]; 4] = std::array::from_fn(|i| std::array::from_fn(|k| padded[((2 * ty + i) * g.padded.1 + 2 * tx + k) * pc + ci]));
                        transform_input(&d)
                    })
                    .collect();
                for o in 0..self.out_channels {
                    let m: [i32; XI] = std::array::from_fn(|xi| {
                        let panel = &self.weights[((o / OC_BLOCK) * XI + xi) * pairs * OC_BLOCK * 2..];
                        (0..c).fold(0i32, |acc, ci| {
                            let w = panel[(ci / 2) * OC_BLOCK * 2 + (o % OC_BLOCK) * 2 + ci % 2];
                            acc.wrapping_add(w as i32 * u[ci][xi] as i32)
                        })
                    });
                    let y = transform_output(&m);
                    for (i, row) in y.iter().enumerate() {
                        for (j, &v) in row.iter().enumerate() {
                            let (oy, ox) = (2 * ty + i, 2 * tx + j);
                            if oy < g.out.0 && ox < g.out.1 {
                                out[(o * g.out.0 + oy) * g.out.1 + ox] = self.requantize(o, v >> 2);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check(&self, x: &[u8], out: &mut [u8]) -> Result<(), QuantError> {
        let s = self.shape;
        if x.len() != s.channels * s.height * s.width {
            return Err(QuantError::LengthMismatch { what: "conv input", expected: s.channels * s.height * s.width, found: x.len() });
        }
        let expected = self.out_channels * s.positions();
        if out.len() != expected {
            return Err(QuantError::LengthMismatch { what: "conv output", expected, found: out.len() });
        }
        Ok(())
    }

    /// The stage of output channel `o` on `y = Σ w·(x − z_in)`.
    pub(crate) fn requantize(&self, o: usize, y: i32) -> u8 {
        requantize_one(&self.channels[o], self.output_zero_point, self.clamp_min, y)
    }

    pub(crate) fn geometry(&self) -> TileGeometry {
        let out = (self.shape.out_height(), self.shape.out_width());
        let tiles = (out.0.div_ceil(2), out.1.div_ceil(2));
        TileGeometry { out, tiles, padded: (2 * tiles.0 + 2, 2 * tiles.1 + 2) }
    }

    /// `x − z_in` as `i16`, `[H', W', C']` with the padding (and the rows and columns whole tiles
    /// need past it) 0.
    pub(crate) fn padded_input(&self, x: &[u8]) -> Vec<i16> {
        let g = self.geometry();
        let mut padded = vec![0; g.padded.0 * g.padded.1 * self.padded_channels];
        self.pad_rows_into(x, 0, &mut padded);
        padded
    }

    /// The rows of [`Self::padded_input`] from `first` on into `dst` (whole rows).
    pub(crate) fn pad_rows_into(&self, x: &[u8], first: usize, dst: &mut [i16]) {
        let s = self.shape;
        let (pc, pw) = (self.padded_channels, self.geometry().padded.1);
        let z = self.input_zero_point as i16;
        for (yy, row) in (first..).zip(dst.chunks_exact_mut(pw * pc)) {
            row.fill(0);
            let Some(iy) = yy.checked_sub(s.padding).filter(|&iy| iy < s.height) else { continue };
            for ci in 0..s.channels {
                let src = &x[(ci * s.height + iy) * s.width..][..s.width];
                for (ix, &v) in src.iter().enumerate() {
                    row[(ix + s.padding) * pc + ci] = v as i16 - z;
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) fn padded_channels(&self) -> usize {
        self.padded_channels
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) fn weights(&self) -> &[i16] {
        &self.weights
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) fn channels(&self) -> &[ChannelRequant] {
        &self.channels
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) fn output_clamp(&self) -> (u8, u8) {
        (self.output_zero_point, self.clamp_min)
    }
}

/// Sizes of a run: the output, the tiles, the padded input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileGeometry {
    pub(crate) out: (usize, usize),
    pub(crate) tiles: (usize, usize),
    pub(crate) padded: (usize, usize),
}

/// `G' g G'ᵀ`, row-major 4×4: `4·G g Gᵀ` in integers.
fn transform_kernel(g: &[i8; 9]) -> [i16; XI] {
    let g = g.map(i16::from);
    let rows = |r: [i16; 3]| [2 * r[0], r[0] + r[1] + r[2], r[0] - r[1] + r[2], 2 * r[2]];
    let cols: [[i16; 4]; 3] = std::array::from_fn(|j| rows([g[j], g[3 + j], g[6 + j]]));
    std::array::from_fn(|xi| rows([cols[0][xi / 4], cols[1][xi / 4], cols[2][xi / 4]])[xi % 4])
}

/// `Bᵀ d B`, row-major 4×4 (`Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`).
fn transform_input(d: &[[i16; 4]; 4]) -> [i16; XI] {
    let bt = |a: [i16; 4]| [a[0] - a[2], a[1] + a[2], a[2] - a[1], a[1] - a[3]];
    let cols: [[i16; 4]; 4] = std::array::from_fn(|k| bt([d[0][k], d[1][k], d[2][k], d[3][k]]));
    std::array::from_fn(|xi| bt([cols[0][xi / 4], cols[1][xi / 4], cols[2][xi / 4], cols[3][xi / 4]])[xi % 4])
}

/// `Aᵀ m A` (`Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`) in wrapping `i32`: `4·y` of the tile's 2×2 outputs.
fn transform_output(m: &[i32; XI]) -> [[i32; 2]; 2] {
    let at = |a: [i32; 4]| [a[0].wrapping_add(a[1]).wrapping_add(a[2]), a[1].wrapping_sub(a[2]).wrapping_sub(a[3])];
    let rows: [[i32; 2]; 4] = std::array::from_fn(|k| at([m[k], m[4 + k], m[8 + k], m[12 + k]]));
    std::array::from_fn(|i| at([rows[0][i], rows[1][i], rows[2][i], rows[3][i]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{ActivationQParams, QuantizedWeights};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// `Σ w·x` from the definition (the zero point outside the image) through the layer's stage.
    fn reference(x: &[u8], w: &[i8], s: ConvShape, o: usize, zp: u8, stage: &OutputStage) -> Vec<u8> {
        let acc = crate::kernels::conv_u8_shallow::tests::reference(x, w, s, o, zp);
        acc.iter().enumerate().map(|(i, &a)| stage.requantize(i / s.positions(), a)).collect()
    }

    /// Random weights (the extremes ±127 included), an input with its zero point anywhere, a stage
    /// with or without ReLU.
    fn case(rng: &mut SmallRng, s: ConvShape, o: usize) -> (Vec<u8>, Vec<i8>, OutputStage, u8) {
        let depth = s.channels * 9;
        let w: Vec<f32> = (0..o * depth).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let qw = QuantizedWeights::quantize(&w, o).unwrap();
        let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let lo = rng.gen_range(-1.0..0.0);
        let input = ActivationQParams::from_range(lo, lo + 1.5).unwrap();
        let output = ActivationQParams::from_range(-0.2 * (depth as f32).sqrt(), 0.3 * (depth as f32).sqrt()).unwrap();
        let stage = OutputStage::new(input, &qw, Some(&bias), output, rng.gen_bool(0.5)).unwrap();
        let x: Vec<u8> = (0..s.channels * s.height * s.width).map(|_| rng.gen()).collect();
        (x, qw.values, stage, input.zero_point)
    }

    /// (C, H, W, padding, O): odd and even sides (clipped edge tiles), paddings 0–2, channel counts
    /// off the vector and pair sizes, output channels off the panel width.
    const SHAPES: [(usize, usize, usize, usize, usize); 8] =
        [(1, 4, 4, 1, 1), (3, 7, 5, 1, 4), (8, 6, 9, 0, 5), (2, 5, 5, 2, 3), (17, 14, 14, 1, 20), (5, 3, 3, 0, 2), (64, 8, 8, 1, 33), (33, 13, 11, 1, 16)];

    #[test]
    fn the_portable_twin_equals_the_integer_reference() {
        let mut rng = SmallRng::seed_from_u64(21);
        for (c, h, w, p, o) in SHAPES {
            let s = ConvShape::new(c, h, w, 3, 1, p).unwrap();
            let (x, wq, stage, zp) = case(&mut rng, s, o);
            let conv = WinogradU8::new(s, &wq, o, &stage, zp).unwrap();
            let mut got = vec![0u8; o * s.positions()];
            conv.forward_generic(&x, &mut got).unwrap();
            assert_eq!(got, reference(&x, &wq, s, o, zp, &stage), "{s:?} → {o}");
        }
    }

    /// The widest input with every weight and input at the extremes that make `|y|` largest: the
    /// wrapping sums still give the exact result.
    #[test]
    fn the_widest_input_at_the_extremes_is_exact() {
        let s = ConvShape::new(MAX_CHANNELS, 4, 4, 3, 1, 1).unwrap();
        let o = 2;
        let wq: Vec<i8> = (0..o * MAX_CHANNELS * 9).map(|i| if i < MAX_CHANNELS * 9 { 127 } else { -127 }).collect();
        for (zp, v) in [(0u8, 255u8), (255, 0)] {
            let x = vec![v; MAX_CHANNELS * 16];
            let channels = (0..o).map(|_| ChannelRequant { multiplier: crate::quant::FixedPointMultiplier::from_real(1e-6).unwrap(), bias: 0 }).collect();
            let stage = OutputStage { channels, output_zero_point: 128, clamp_min: 0 };
            let conv = WinogradU8::new(s, &wq, o, &stage, zp).unwrap();
            let want = reference(&x, &wq, s, o, zp, &stage);
            let mut got = vec![0u8; want.len()];
            conv.forward_generic(&x, &mut got).unwrap();
            assert_eq!(got, want);
            if WinogradU8::available() {
                conv.forward(&x, &mut got, true).unwrap();
                assert_eq!(got, want);
            }
        }
    }

    /// The AVX2 kernels equal the portable twin, on one thread and on the team.
    #[test]
    fn the_simd_kernels_equal_the_portable_twin() {
        if !WinogradU8::available() {
            eprintln!("skipped: AVX2 not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(22);
        for (c, h, w, p, o) in SHAPES.into_iter().chain([(16, 30, 30, 1, 16), (128, 14, 14, 1, 40), (256, 7, 7, 1, 17)]) {
            let s = ConvShape::new(c, h, w, 3, 1, p).unwrap();
            let (x, wq, stage, zp) = case(&mut rng, s, o);
            let conv = WinogradU8::new(s, &wq, o, &stage, zp).unwrap();
            let mut want = vec![0u8; o * s.positions()];
            conv.forward_generic(&x, &mut want).unwrap();
            for parallel in [false, true] {
                let mut got = vec![7u8; want.len()];
                conv.forward(&x, &mut got, parallel).unwrap();
                assert_eq!(got, want, "{s:?} → {o}, parallel {parallel}");
            }
        }
    }

    #[test]
    fn other_shapes_and_wrong_buffers_are_errors() {
        let s = ConvShape::new(2, 5, 5, 3, 2, 1).unwrap();
        let stage = OutputStage { channels: vec![ChannelRequant { multiplier: crate::quant::FixedPointMultiplier::from_real(0.5).unwrap(), bias: 0 }], output_zero_point: 0, clamp_min: 0 };
        assert!(matches!(WinogradU8::new(s, &[0; 18], 1, &stage, 0), Err(QuantError::UnsupportedKernel { .. })));
        let s = ConvShape::new(2, 5, 5, 3, 1, 1).unwrap();
        assert!(matches!(WinogradU8::new(s, &[0; 17], 1, &stage, 0), Err(QuantError::LengthMismatch { what: "conv weights", .. })));
        let conv = WinogradU8::new(s, &[0; 18], 1, &stage, 0).unwrap();
        assert!(matches!(conv.forward_generic(&[0; 49], &mut [0; 25]), Err(QuantError::LengthMismatch { what: "conv input", .. })));
        assert!(matches!(conv.forward_generic(&[0; 50], &mut [0; 24]), Err(QuantError::LengthMismatch { what: "conv output", .. })));
    }
}
