//! A quantized conv of any stride read straight from its input's channel quads, without a patch
//! matrix: output positions in rows, output channels in vector lanes (the AVX-512 VNNI table).
//!
//! The input is laid out as padded channel quads (the [`super::conv_quads`] layout: quad `q` holds
//! channels `4q .. 4q + 4` of a pixel in one 4-byte word, plane by plane). A tile is six output
//! positions (consecutive in the flat `OH × OW` order, so a tile may span two rows) by up to 64
//! output channels (four vectors of sixteen `i32`). For kernel tap `(ky, kx)` and quad `q`, each
//! position's word is broadcast and one `vpdpbusd` per vector multiplies it by those four input
//! channels' weights of sixteen outputs: 24 multiply-add instructions per four weight loads and six
//! broadcasts. A stride only changes where each position's word is. The sums go through the output
//! stage with a channel per lane ([`LaneStages16`]) and land as six bytes of each channel's plane.
//!
//! Against im2col + GEMM this spares writing the patch matrix (each input byte `K²` times) and the
//! junk columns of the wide patches (a 7×7 map, padded to 9 wide, computes 61 columns for 49
//! positions there), and stride-2 convs need neither their input's phases nor a gather.
//!
//! ```
//! use fasterai_runtime::kernels::conv_u8_direct::DirectConvU8;
//! use fasterai_runtime::kernels::generic::im2col_u8::ConvShape;
//! use fasterai_runtime::quant::{ActivationQParams, OutputStage, QuantizedWeights};
//! // 16 channels in, 16 out, 3×3, stride 2: output channel o copies input channel o's centre tap.
//! let shape = ConvShape::new(16, 4, 4, 3, 2, 1)?;
//! let w: Vec<f32> = (0..16 * 16 * 9).map(|i| if i % (16 * 9) == (i / (16 * 9)) * 9 + 4 { 1.0 } else { 0.0 }).collect();
//! let w = QuantizedWeights::quantize(&w, 16)?;
//! let p = ActivationQParams::from_range(0.0, 2.55)?;
//! let stage = OutputStage::new(p, &w, None, p, true)?;
//! let image: Vec<u8> = (0..16 * 16).map(|i| i as u8).collect();
//! let mut out = vec![0; 16 * 2 * 2];
//! let conv = DirectConvU8::for_any_cpu(shape, &w.values, 16, &stage).expect("16 channels qualify");
//! conv.forward_generic(&image, p.zero_point, &mut out)?;
//! assert_eq!(&out[..4], &[0, 2, 8, 10]); // channel 0 at (0, 0), (0, 2), (2, 0), (2, 2)
//! if let Some(conv) = DirectConvU8::new(shape, &w.values, 16, &stage) {
//!     let mut simd = vec![0; out.len()];
//!     conv.forward(&image, p.zero_point, &mut simd, &mut Vec::new(), false)?;
//!     assert_eq!(simd, out);
//! }
//! # Ok::<(), fasterai_runtime::quant::QuantError>(())
//! ```

#[cfg(target_arch = "x86_64")]
use super::conv_geometry::step_positions;
use super::conv_quads::QuadGeometry;
use super::generic::im2col_u8::ConvShape;
use super::int8::MAX_DEPTH;
use super::isa::Isa;
#[cfg(target_arch = "x86_64")]
use super::team::Team;

use super::types::LaneStages16;
#[cfg(target_arch = "x86_64")]
use super::OutPtr;
use crate::quant::{requantize_one, OutputStage, QuantError};

/// Output positions per tile.
#[cfg(target_arch = "x86_64")]
const POSITIONS: usize = 6;
/// Output channels per full panel: four vectors of sixteen.
const PANEL: usize = 64;
/// Channels per vector.
const LANES: usize = 16;
/// Narrowest input this kernel takes: fewer than four quads leave the broadcasts, not the
/// multiply-adds, setting the pace (a network's first conv goes to the shallow kernel or the GEMM).
const MIN_CHANNELS: usize = 16;

/// A conv with its weights in panels of 64 output channels × (tap, quad), and its output stage in
/// lanes. See the module docs.
#[derive(Debug, Clone)]
pub struct DirectConvU8 {
    shape: ConvShape,
    out_channels: usize,
    geometry: QuadGeometry,
    /// Byte offset of each depth step, tap `(ky, kx)` then quad `q`, from a position's word in the
    /// first plane (`4·(ky·(W + 2p) + kx) + q·plane`), in the weights' order: one flat loop per tile.
    steps: Vec<usize>,
    /// Panel after panel; in each, tap after tap, quad after quad, the panel's channels' four
    /// weights (one per input channel of the quad, zero past the last) side by side.
    weights: Vec<i8>,
    stage: OutputStage,
    /// The stage of output channels `16g .. 16g + 16` in lanes.
    lanes: Vec<LaneStages16>,
}

impl DirectConvU8 {
    /// The conv of `shape` with row-major weights `[O, C·K·K]` and its output `stage`, when the CPU
    /// has AVX-512 VNNI (within `FASTERAI_MAX_ISA`) and the conv reads at least 16 channels;
    /// `None` otherwise.
    pub fn new(shape: ConvShape, weights: &[i8], out_channels: usize, stage: &OutputStage) -> Option<Self> {
        Self::available().then_some(())?;
        Self::for_any_cpu(shape, weights, out_channels, stage)
    }

    /// Whether [`Self::new`] can return a conv on this CPU.
    pub fn available() -> bool {
        Isa::Avx512Vnni.enabled()
    }

    /// [`Self::new`] without the CPU check, for the portable twin ([`Self::forward_generic`]).
    pub fn for_any_cpu(shape: ConvShape, weights: &[i8], out_channels: usize, stage: &OutputStage) -> Option<Self> {
        // Deeper products could overflow `i32`: the GEMM path reports them as errors.
        let deep = 4 * shape.channels.div_ceil(4) * shape.kernel * shape.kernel > MAX_DEPTH;
        let fits = shape.channels >= MIN_CHANNELS && !deep && out_channels > 0 && weights.len() == out_channels * shape.depth();
        if !fits || stage.channels.len() != out_channels {
            return None;
        }
        let geometry = QuadGeometry::planes(shape);
        let (c, k, wp) = (shape.channels, shape.kernel, geometry.padded_width());
        let steps = (0..k * k).flat_map(|t| (0..geometry.quads()).map(move |q| 4 * ((t / k) * wp + t % k) + q * geometry.plane())).collect();
        let mut conv = Self { shape, out_channels, geometry, steps, weights: Vec::new(), stage: stage.clone(), lanes: Vec::new() };
        let panels = out_channels.div_ceil(PANEL);
        conv.weights = vec![0; conv.panel_offset(panels - 1) + conv.panel_len(panels - 1)];
        let quads = geometry.quads();
        for (o, row) in weights.chunks_exact(shape.depth()).enumerate() {
            let (panel, local) = (o / PANEL, o % PANEL);
            let (base, stride) = (conv.panel_offset(panel), 4 * LANES * conv.vectors(panel));
            for ch in 0..c {
                for t in 0..k * k {
                    conv.weights[base + (t * quads + ch / 4) * stride + 4 * local + ch % 4] = row[ch * k * k + t];
                }
            }
        }
        conv.lanes = stage.channels.chunks(LANES).map(LaneStages16::new).collect();
        Some(conv)
    }

    /// Multiply-adds per image.
    pub fn macs(&self) -> usize {
        self.out_channels * self.shape.depth() * self.shape.positions()
    }

    /// Bytes held by the weights and the stage lanes.
    pub fn bytes(&self) -> usize {
        self.weights.len() + self.lanes.len() * std::mem::size_of::<LaneStages16>()
    }

    /// Vectors of sixteen channels in panel `panel` (four but in the last).
    fn vectors(&self, panel: usize) -> usize {
        (self.out_channels - panel * PANEL).min(PANEL).div_ceil(LANES)
    }

    /// Bytes of panel `panel`'s weights.
    fn panel_len(&self, panel: usize) -> usize {
        self.steps.len() * 4 * LANES * self.vectors(panel)
    }

    /// Where panel `panel`'s weights start (every panel before it is full).
    fn panel_offset(&self, panel: usize) -> usize {
        panel * self.steps.len() * 4 * PANEL
    }

    /// Byte offset of output position `i`'s word (at tap `(0, 0)`, quad 0) in the quad planes.
    fn position(&self, i: usize) -> usize {
        let (ow, s) = (self.shape.out_width(), self.shape.stride);
        4 * ((i / ow) * s * self.geometry.padded_width() + (i % ow) * s)
    }

    /// [`Self::position`] of the `n` positions from `first` on, stepping along the rows (one
    /// division per tile, not six: a twelfth of a 64-channel 3×3 tile's time went to them); the
    /// slots past `n` repeat the last, whose sums are not stored.
    #[cfg(target_arch = "x86_64")]
    fn tile_positions(&self, first: usize, n: usize) -> [usize; POSITIONS] {
        let (s, wp) = (self.shape.stride, self.geometry.padded_width());
        step_positions(first, n, self.shape.out_width(), self.position(first), (4 * s * wp, 4 * s))
    }

    /// `out = stage(conv(x))`: one `[C, H, W]` image (`zero_point` is its quantization's, the
    /// padding value) into `[O, OH, OW]`, its tiles split over [`Team::global`] when `parallel`.
    /// `buffer` receives the input's channel quads.
    pub fn forward(&self, x: &[u8], zero_point: u8, out: &mut [u8], buffer: &mut Vec<u8>, parallel: bool) -> Result<(), QuantError> {
        self.check(x, out.len())?;
        #[cfg(target_arch = "x86_64")]
        if Self::available() {
            self.geometry.fill(x, zero_point, buffer);
            let tiles = self.out_channels.div_ceil(PANEL) * self.shape.positions().div_ceil(POSITIONS);
            let team = Team::global();
            let parts = if parallel { team.threads().min(tiles) } else { 1 };
            // Contiguous shares: each thread keeps to its own panels' weights in its L2 (runs of
            // tiles taken as the threads go, spread over every panel, measured 5–10% slower).
            let (quads, out) = (&buffer[..], OutPtr::new(out));
            team.run(parts, &|range| {
                for i in range {
                    // SAFETY: AVX-512 VNNI was checked; the operands were checked; the shares'
                    // tiles write disjoint positions of the output.
                    unsafe { avx512::tiles(self, quads, &out, i * tiles / parts..(i + 1) * tiles / parts) };
                }
            });
            return Ok(());
        }
        let _ = (buffer, parallel);
        self.forward_generic(x, zero_point, out)
    }

    /// [`Self::forward`] as plain loops over the same quads and weights (the twin the SIMD kernel
    /// is tested against), on the calling thread.
    pub fn forward_generic(&self, x: &[u8], zero_point: u8, out: &mut [u8]) -> Result<(), QuantError> {
        self.check(x, out.len())?;
        let mut quads = Vec::new();
        self.geometry.fill(x, zero_point, &mut quads);
        let positions = self.shape.positions();
        for o in 0..self.out_channels {
            let (panel, local) = (o / PANEL, o % PANEL);
            let (base, stride) = (self.panel_offset(panel), 4 * LANES * self.vectors(panel));
            for i in 0..positions {
                let mut acc = 0i32;
                for (d, &step) in self.steps.iter().enumerate() {
                    let word = &quads[self.position(i) + step..][..4];
                    let w = &self.weights[base + d * stride + 4 * local..][..4];
                    acc += word.iter().zip(w).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>();
                }
                out[o * positions + i] = requantize_one(&self.stage.channels[o], self.stage.output_zero_point, self.stage.clamp_min, acc);
            }
        }
        Ok(())
    }

    fn check(&self, x: &[u8], out: usize) -> Result<(), QuantError> {
        let s = &self.shape;
        let len = s.channels * s.height * s.width;
        if x.len() != len {
            return Err(QuantError::LengthMismatch { what: "conv input", expected: len, found: x.len() });
        }
        let expected = self.out_channels * s.positions();
        if out != expected {
            return Err(QuantError::LengthMismatch { what: "conv output", expected, found: out });
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{DirectConvU8, LANES, PANEL, POSITIONS};
    use crate::kernels::x86_64::requantize512::requantize16_lanes;
    use crate::kernels::conv_geometry::panel_runs;
    use crate::kernels::OutPtr;

    /// Tiles `tiles` (panel after panel, six positions after six) of `conv` over the channel
    /// quads `quads`, into `out`.
    ///
    /// # Safety
    /// AVX-512 F, BW, VL and VNNI must be available, the operands checked (`quads` filled by the
    /// conv's geometry), and no other thread may reach these tiles' outputs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn tiles(conv: &DirectConvU8, quads: &[u8], out: &OutPtr<'_, u8>, tiles: Range<usize>) {
        let per_panel = conv.shape.positions().div_ceil(POSITIONS);
        for (panel, share) in panel_runs(tiles, per_panel) {
            // SAFETY: passed on from the caller.
            unsafe {
                match conv.vectors(panel) {
                    4 => panel_tiles::<4>(conv, quads, out, panel, share),
                    3 => panel_tiles::<3>(conv, quads, out, panel, share),
                    2 => panel_tiles::<2>(conv, quads, out, panel, share),
                    _ => panel_tiles::<1>(conv, quads, out, panel, share),
                }
            }
        }
    }

    /// Tiles `share` of panel `panel`, which has `NZ` vectors of channels.
    ///
    /// # Safety
    /// As [`tiles`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn panel_tiles<const NZ: usize>(conv: &DirectConvU8, quads: &[u8], out: &OutPtr<'_, u8>, panel: usize, share: Range<usize>) {
        let positions = conv.shape.positions();
        let weights = conv.weights[conv.panel_offset(panel)..].as_ptr();
        let zero = _mm512_setzero_si512();
        for tile in share {
            let first = tile * POSITIONS;
            let n = (positions - first).min(POSITIONS);
            let at = conv.tile_positions(first, n);
            let mut acc = [[zero; NZ]; POSITIONS];
            let mut w = weights;
            for &step in &conv.steps {
                // SAFETY: every word read below lies in one quad plane of the filled buffer: the
                // position's word at this step's tap is inside the padded image.
                let a = unsafe { quads.as_ptr().add(step) };
                let mut wv = [zero; NZ];
                for (z, v) in wv.iter_mut().enumerate() {
                    // SAFETY: the panel holds NZ vectors per step, in order.
                    *v = unsafe { _mm512_loadu_si512(w.add(64 * z).cast()) };
                }
                for (row, &off) in acc.iter_mut().zip(&at) {
                    // SAFETY: see above.
                    let x = _mm512_set1_epi32(unsafe { a.add(off).cast::<i32>().read_unaligned() });
                    for (s, &v) in row.iter_mut().zip(&wv) {
                        *s = _mm512_dpbusd_epi32(*s, x, v);
                    }
                }
                // SAFETY: the next step's vectors (one past the panel after the last).
                w = unsafe { w.add(64 * NZ) };
            }
            // SAFETY: passed on from the caller.
            unsafe { store::<NZ>(conv, acc, out, panel, (first, n)) };
        }
    }

    /// The tile's sums through the output stage, as bytes `first .. first + n` of each of the
    /// panel's channel planes.
    ///
    /// # Safety
    /// As [`tiles`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[allow(clippy::needless_range_loop)] // `z` picks one vector of every position's sums.
    unsafe fn store<const NZ: usize>(conv: &DirectConvU8, acc: [[__m512i; NZ]; POSITIONS], out: &OutPtr<'_, u8>, panel: usize, (first, n): (usize, usize)) {
        let positions = conv.shape.positions();
        let (zp, lo) = (conv.stage.output_zero_point, conv.stage.clamp_min);
        let base = out.ptr();
        for z in 0..NZ {
            let ch0 = panel * PANEL + z * LANES;
            let lanes = &conv.lanes[ch0 / LANES];
            let mut r = [_mm512_setzero_si512(); POSITIONS];
            for (v, sums) in r.iter_mut().zip(&acc) {
                *v = requantize16_lanes(sums[z], lanes, zp, lo);
            }
            // Each lane's bytes of positions 0..4 in one word and of 4..6 in another.
            let low = _mm512_or_si512(
                _mm512_or_si512(r[0], _mm512_slli_epi32::<8>(r[1])),
                _mm512_or_si512(_mm512_slli_epi32::<16>(r[2]), _mm512_slli_epi32::<24>(r[3])),
            );
            let high = _mm512_or_si512(r[4], _mm512_slli_epi32::<8>(r[5]));
            let (mut low_words, mut high_words) = ([0u32; LANES], [0u32; LANES]);
            // SAFETY: sixteen u32 each.
            unsafe {
                _mm512_storeu_si512(low_words.as_mut_ptr().cast(), low);
                _mm512_storeu_si512(high_words.as_mut_ptr().cast(), high);
            }
            for j in 0..(conv.out_channels - ch0).min(LANES) {
                // SAFETY: positions first .. first + n of channel ch0 + j are inside the output and
                // this tile's own (the caller keeps other threads off them).
                unsafe {
                    let dst = base.add((ch0 + j) * positions + first);
                    if n == POSITIONS {
                        dst.cast::<u32>().write_unaligned(low_words[j]);
                        dst.add(4).cast::<u16>().write_unaligned(high_words[j] as u16);
                    } else {
                        let bytes = low_words[j] as u64 | (high_words[j] as u64) << 32;
                        for p in 0..n {
                            *dst.add(p) = (bytes >> (8 * p)) as u8;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv_u8_shallow::tests::{case, reference};
    use rand::{rngs::SmallRng, SeedableRng};

    /// `(C, H, W, K, stride, padding, O)`: strides 1 and 2, kernels 1 to 7, channels not a multiple
    /// of four, partial vectors and panels, maps smaller than a tile, tiles across rows.
    const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 10] = [
        (16, 8, 8, 3, 1, 1, 64),
        (18, 7, 9, 3, 1, 1, 40),
        (32, 9, 9, 3, 2, 1, 80),
        (64, 8, 8, 1, 2, 0, 128),
        (20, 13, 11, 7, 2, 3, 16),
        (33, 5, 5, 5, 1, 2, 130),
        (16, 1, 1, 3, 1, 1, 20),
        (24, 2, 3, 3, 1, 1, 64),
        (16, 14, 14, 3, 1, 0, 48),
        (17, 6, 6, 2, 2, 0, 33),
    ];

    /// The portable twin equals the definition then the scalar output stage.
    #[test]
    fn the_portable_twin_equals_the_integer_reference() {
        let mut rng = SmallRng::seed_from_u64(21);
        for (c, h, w, k, stride, p, o) in SHAPES {
            let s = ConvShape::new(c, h, w, k, stride, p).unwrap();
            let (x, qw, stage, zp) = case(&mut rng, s, o);
            let conv = DirectConvU8::for_any_cpu(s, &qw.values, o, &stage).expect("a direct conv");
            let want: Vec<u8> = reference(&x, &qw.values, s, o, zp).iter().enumerate().map(|(i, &a)| stage.requantize(i / s.positions(), a)).collect();
            let mut got = vec![0u8; want.len()];
            conv.forward_generic(&x, zp, &mut got).unwrap();
            assert_eq!(got, want, "{s:?} → {o}");
        }
    }

    /// The SIMD kernel equals the portable twin, on one thread and on the team.
    #[test]
    fn the_simd_kernel_equals_the_portable_twin() {
        if !DirectConvU8::available() {
            eprintln!("skipped: AVX-512 VNNI not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(22);
        let mut buffer = Vec::new();
        for (c, h, w, k, stride, p, o) in SHAPES {
            let s = ConvShape::new(c, h, w, k, stride, p).unwrap();
            let (x, qw, stage, zp) = case(&mut rng, s, o);
            let conv = DirectConvU8::new(s, &qw.values, o, &stage).expect("a direct conv");
            let mut want = vec![0u8; o * s.positions()];
            conv.forward_generic(&x, zp, &mut want).unwrap();
            for parallel in [false, true] {
                let mut got = vec![1u8; want.len()];
                conv.forward(&x, zp, &mut got, &mut buffer, parallel).unwrap();
                assert_eq!(got, want, "{s:?} → {o}, parallel {parallel}");
            }
        }
    }

    #[test]
    fn convs_it_does_not_take_and_bad_operands() {
        let mut rng = SmallRng::seed_from_u64(23);
        let narrow = ConvShape::new(15, 6, 6, 3, 1, 1).unwrap();
        let (_, qw, stage, _) = case(&mut rng, narrow, 4);
        assert!(DirectConvU8::for_any_cpu(narrow, &qw.values, 4, &stage).is_none(), "15 channels are too few");
        let deep = ConvShape::new(MAX_DEPTH / 9 + 4, 3, 3, 3, 1, 1).unwrap();
        let (_, qw, stage, _) = case(&mut rng, deep, 1);
        assert!(DirectConvU8::for_any_cpu(deep, &qw.values, 1, &stage).is_none(), "a product deeper than MAX_DEPTH");
        let s = ConvShape::new(16, 4, 4, 3, 1, 1).unwrap();
        let (x, qw, stage, zp) = case(&mut rng, s, 4);
        assert!(DirectConvU8::for_any_cpu(s, &qw.values[1..], 4, &stage).is_none(), "weights one short");
        assert!(DirectConvU8::for_any_cpu(s, &qw.values, 4, &OutputStage { channels: stage.channels[1..].to_vec(), ..stage.clone() }).is_none());
        let conv = DirectConvU8::for_any_cpu(s, &qw.values, 4, &stage).unwrap();
        let mut out = vec![0u8; 4 * 16];
        assert!(matches!(conv.forward(&x[1..], zp, &mut out, &mut Vec::new(), false), Err(QuantError::LengthMismatch { what: "conv input", .. })));
        assert!(matches!(conv.forward_generic(&x, zp, &mut out[1..]), Err(QuantError::LengthMismatch { what: "conv output", .. })));
    }
}
