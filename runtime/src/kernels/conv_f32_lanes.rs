//! An fp32 conv of any stride with its output channels in vector lanes: positions broadcast,
//! weights in panels of 64 channels, no patch matrix (the AVX-512 table).
//!
//! The input is padded once into planes (`C × (H + 2p) × (W + 2p)`). A tile is six output
//! positions (consecutive in the flat `OH × OW` order, so a tile may span two rows) by up to 64
//! output channels (four vectors of sixteen). For each depth step `(c, ky, kx)` the six positions'
//! input values are broadcast and multiplied by four vectors of that step's weights: 24 fused
//! multiply-adds per four weight loads and six broadcasts, whatever the map's size or the stride. The
//! sums start from the bias; a transpose in registers turns each vector of sixteen channels × six
//! positions into sixteen runs of six values, which land in their channel planes (the skip of a
//! residual block added and the ReLU applied there).
//!
//! [`ConvF32`](super::ConvF32) puts positions in its lanes instead: it fills them on wide maps, but a
//! 7×7 map padded to 9 wide fills a quarter of its tiles with junk, and a stride needs the input's
//! phases. This kernel fills every lane at any map size and stride.
//!
//! ```
//! use fasterai_runtime::kernels::{ConvGeometry, LanesConvF32, Parallelism};
//! // 1 channel in, 2 out, 3×3, stride 2: output 0 copies the centre tap, output 1 doubles it plus 1.
//! let g = ConvGeometry::new(1, 4, 4, 3, 2, 1)?;
//! let mut w = vec![0.0; 18];
//! (w[4], w[13]) = (1.0, 2.0);
//! let conv = LanesConvF32::new(g, &w, 2, Some(&[0.0, 1.0]), false)?;
//! let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
//! let mut out = vec![0.0; 8];
//! conv.forward(&image, &mut out, &mut Vec::new(), Parallelism::Sequential)?;
//! assert_eq!(out, [0.0, 2.0, 8.0, 10.0, 1.0, 5.0, 17.0, 21.0]);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use super::conv_geometry::pad_plane_rows;
#[cfg(target_arch = "x86_64")]
use super::conv_geometry::step_positions;
use super::isa::Isa;
use super::team::Team;
use super::OutPtr;
use super::{ConvGeometry, KernelError, Parallelism};

/// Output positions per tile.
#[cfg(target_arch = "x86_64")]
const POSITIONS: usize = 6;
/// Output channels per full panel: four vectors of sixteen.
const PANEL: usize = 64;
/// Channels per vector.
const LANES: usize = 16;

/// A conv with its weights in panels of 64 output channels × depth step. See the module docs.
#[derive(Debug, Clone)]
pub struct LanesConvF32 {
    geometry: ConvGeometry,
    out_channels: usize,
    /// Offset of depth step `(c, ky, kx)` (im2col row order) from a position's first tap in the
    /// padded planes: `c·Hp·Wp + ky·Wp + kx`.
    steps: Vec<usize>,
    /// Panel after panel; in each, step after step, the panel's channels' weights (zero past the
    /// last channel of the last vector).
    weights: Vec<f32>,
    /// One per output channel, zero to whole panels.
    bias: Vec<f32>,
    relu: bool,
}

/// What the output stage does besides adding the bias: the skip's add (output planes hold it) and
/// the ReLU.
#[derive(Debug, Clone, Copy)]
struct Epilogue {
    add: bool,
    relu: bool,
}

impl LanesConvF32 {
    /// A conv of geometry `g` (any stride) with row-major weights `[O, C·K·K]`, an optional bias
    /// per output channel and an optional fused ReLU.
    pub fn new(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool) -> Result<Self, KernelError> {
        let depth = g.col_rows();
        let expected = out_channels.checked_mul(depth).ok_or(KernelError::SizeOverflow { rows: out_channels, cols: depth })?;
        if weight.len() != expected {
            return Err(KernelError::OperandLength { operand: "weight", expected, found: weight.len() });
        }
        if let Some(b) = bias.filter(|b| b.len() != out_channels) {
            return Err(KernelError::OperandLength { operand: "bias", expected: out_channels, found: b.len() });
        }
        let (k, wp, plane) = (g.kernel(), g.padded_width(), g.padded_height() * g.padded_width());
        let steps = (0..depth).map(|d| (d / (k * k)) * plane + (d % (k * k) / k) * wp + d % k).collect();
        let mut conv = Self { geometry: g, out_channels, steps, weights: Vec::new(), bias: Vec::new(), relu };
        let panels = out_channels.div_ceil(PANEL).max(1);
        conv.weights = vec![0.0; conv.panel_offset(panels - 1) + conv.panel_len(panels - 1)];
        for (o, row) in weight.chunks_exact(depth.max(1)).enumerate().take(out_channels) {
            let (base, width) = (conv.panel_offset(o / PANEL), LANES * conv.vectors(o / PANEL));
            for (d, &v) in row.iter().enumerate() {
                conv.weights[base + d * width + o % PANEL] = v;
            }
        }
        conv.bias = vec![0.0; panels * PANEL];
        if let Some(b) = bias {
            conv.bias[..out_channels].copy_from_slice(b);
        }
        Ok(conv)
    }

    /// Whether [`Self::forward`] runs the SIMD kernel on this CPU (AVX-512 F, within
    /// `FASTERAI_MAX_ISA`); elsewhere it runs the portable twin.
    pub fn available() -> bool {
        Isa::Avx512.enabled()
    }

    /// The conv's geometry.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Multiply-adds per image.
    pub fn macs(&self) -> usize {
        self.out_channels * self.steps.len() * self.geometry.out_len()
    }

    /// Vectors of sixteen channels in panel `panel` (four but in the last).
    fn vectors(&self, panel: usize) -> usize {
        (self.out_channels - panel * PANEL).min(PANEL).div_ceil(LANES).max(1)
    }

    /// Values of panel `panel`'s weights.
    fn panel_len(&self, panel: usize) -> usize {
        self.steps.len() * LANES * self.vectors(panel)
    }

    /// Where panel `panel`'s weights start (every panel before it is full).
    fn panel_offset(&self, panel: usize) -> usize {
        panel * self.steps.len() * PANEL
    }

    /// Offset of output position `i`'s first tap in a padded plane.
    fn position(&self, i: usize) -> usize {
        let (ow, s) = (self.geometry.out_width(), self.geometry.stride());
        (i / ow) * s * self.geometry.padded_width() + (i % ow) * s
    }

    /// [`Self::position`] of the `n` positions from `first` on (one division per tile, not six:
    /// the 7×7 stem's tiles have only 147 depth steps); the slots past `n` repeat the last, whose
    /// sums are not stored.
    #[cfg(target_arch = "x86_64")]
    fn tile_positions(&self, first: usize, n: usize) -> [usize; POSITIONS] {
        let (s, wp) = (self.geometry.stride(), self.geometry.padded_width());
        step_positions(first, n, self.geometry.out_width(), self.position(first), (s * wp, s))
    }

    /// `out = relu?(conv(x) + bias)`: one `[C, H, W]` image in, `[O, OH, OW]` out.
    /// [`Parallelism::AllCores`] splits the tiles over [`Team::global`](super::team::Team::global)
    /// in contiguous shares. `padded` receives the padded image (convs without padding read `x` in place).
    pub fn forward(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>, parallelism: Parallelism) -> Result<(), KernelError> {
        self.run(x, out, padded, parallelism, Epilogue { add: false, relu: self.relu })
    }

    /// `out = relu?(out + conv(x) + bias)` with the ReLU given here instead of the conv's own: the
    /// add that ends a residual block fused into the conv that ends it (`out` holds the skip).
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvGeometry, LanesConvF32, Parallelism};
    /// let g = ConvGeometry::new(1, 1, 2, 1, 1, 0)?;
    /// let conv = LanesConvF32::new(g, &[2.0], 1, None, false)?;
    /// let mut out = [10.0, -20.0];
    /// conv.forward_add(&[1.0, 2.0], &mut out, &mut Vec::new(), Parallelism::Sequential, true)?;
    /// assert_eq!(out, [12.0, 0.0]);
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn forward_add(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>, parallelism: Parallelism, relu: bool) -> Result<(), KernelError> {
        self.run(x, out, padded, parallelism, Epilogue { add: true, relu })
    }

    fn run(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>, parallelism: Parallelism, epilogue: Epilogue) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        if self.out_channels == 0 || out.is_empty() {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if Self::available() {
            let g = &self.geometry;
            let team = Team::global();
            let threads = if parallelism == Parallelism::AllCores { team.threads() } else { 1 };
            let image = self.padded(x, padded, threads);
            let tiles = self.out_channels.div_ceil(PANEL) * g.out_len().div_ceil(POSITIONS);
            let parts = threads.min(tiles);
            // Contiguous shares, as the int8 direct conv: each thread keeps to its own panels.
            // (Shares cut into pieces that a thread done with its own takes from another's end
            // measured the same, also with a busy process on one core.)
            let out = OutPtr::new(out);
            team.run(parts, &|range| {
                for i in range {
                    // SAFETY: AVX-512 F was checked, the operands too; the shares' tiles write
                    // disjoint positions of the output.
                    unsafe { avx512::tiles(self, image, &out, i * tiles / parts..(i + 1) * tiles / parts, epilogue) };
                }
            });
            return Ok(());
        }
        let _ = parallelism;
        self.run_generic(x, out, padded, epilogue)
    }

    /// [`Self::forward`] as plain loops over the same padded planes, weights and order of fused
    /// multiply-adds (the twin the SIMD kernel is tested against, equal to it bit for bit), on the
    /// calling thread.
    pub fn forward_generic(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        self.run_generic(x, out, padded, Epilogue { add: false, relu: self.relu })
    }

    /// [`Self::forward_add`] as [`Self::forward_generic`] runs [`Self::forward`].
    pub fn forward_add_generic(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>, relu: bool) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        self.run_generic(x, out, padded, Epilogue { add: true, relu })
    }

    fn run_generic(&self, x: &[f32], out: &mut [f32], padded: &mut Vec<f32>, epilogue: Epilogue) -> Result<(), KernelError> {
        let image = self.padded(x, padded, 1);
        let positions = self.geometry.out_len();
        for o in 0..self.out_channels {
            let (base, width) = (self.panel_offset(o / PANEL), LANES * self.vectors(o / PANEL));
            for i in 0..positions {
                let at = self.position(i);
                let mut acc = self.bias[o];
                for (d, &step) in self.steps.iter().enumerate() {
                    acc = image[at + step].mul_add(self.weights[base + d * width + o % PANEL], acc);
                }
                let v = &mut out[o * positions + i];
                if epilogue.add {
                    acc += *v;
                }
                // ReLU keeping NaN, as the model's forward does.
                *v = if epilogue.relu && acc <= 0.0 { 0.0 } else { acc };
            }
        }
        Ok(())
    }

    /// The image as the kernel reads it: `x` itself when the conv has no padding (a 1×1 shortcut),
    /// else padded into `padded`, its planes shared out over `threads` of the team (a 56×56 map of
    /// 64 channels is 0.8 MB to copy).
    fn padded<'a>(&self, x: &'a [f32], padded: &'a mut Vec<f32>, threads: usize) -> &'a [f32] {
        let g = &self.geometry;
        let (c, h, w, p) = (g.channels(), g.height(), g.width(), g.padding());
        if p == 0 {
            return x;
        }
        let (plane, hp) = (g.padded_height() * g.padded_width(), g.padded_height());
        padded.resize(c * plane, 0.0);
        let dst = OutPtr::new(&mut padded[..]);
        let parts = threads.min(c).max(1);
        Team::global().run(parts, &|range| {
            for i in range {
                // SAFETY: share i pads its own planes.
                let mut view = unsafe { dst.view(plane, 0..plane) };
                for ch in i * c / parts..(i + 1) * c / parts {
                    pad_plane_rows(&x[ch * h * w..][..h * w], (h, w), p, 0..hp, 0.0, view.channel(ch));
                }
            }
        });
        padded
    }

    fn check(&self, x: usize, out: usize) -> Result<(), KernelError> {
        let g = &self.geometry;
        if x != g.image_len() {
            return Err(KernelError::OperandLength { operand: "image", expected: g.image_len(), found: x });
        }
        let expected = self.out_channels * g.out_len();
        if out != expected {
            return Err(KernelError::OperandLength { operand: "output", expected, found: out });
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Epilogue, LanesConvF32, LANES, PANEL, POSITIONS};
    use crate::kernels::conv_geometry::panel_runs;
    use crate::kernels::OutPtr;

    /// Tiles `tiles` (panel after panel, six positions after six) of `conv` over the padded image
    /// `image`, into `out`.
    ///
    /// # Safety
    /// AVX-512 F must be available, the operands checked (`image` padded by the conv's geometry),
    /// and no other thread may reach these tiles' outputs.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) unsafe fn tiles(conv: &LanesConvF32, image: &[f32], out: &OutPtr<'_>, tiles: Range<usize>, epilogue: Epilogue) {
        let per_panel = conv.geometry.out_len().div_ceil(POSITIONS);
        for (panel, share) in panel_runs(tiles, per_panel) {
            // SAFETY: passed on from the caller.
            unsafe {
                match conv.vectors(panel) {
                    4 => panel_tiles::<4>(conv, image, out, panel, share, epilogue),
                    3 => panel_tiles::<3>(conv, image, out, panel, share, epilogue),
                    2 => panel_tiles::<2>(conv, image, out, panel, share, epilogue),
                    _ => panel_tiles::<1>(conv, image, out, panel, share, epilogue),
                }
            }
        }
    }

    /// Tiles `share` of panel `panel`, which has `NZ` vectors of channels.
    ///
    /// # Safety
    /// As [`tiles`].
    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn panel_tiles<const NZ: usize>(conv: &LanesConvF32, image: &[f32], out: &OutPtr<'_>, panel: usize, share: Range<usize>, epilogue: Epilogue) {
        let positions = conv.geometry.out_len();
        let offset = conv.panel_offset(panel);
        let mut bias = [_mm512_setzero_ps(); NZ];
        for (z, b) in bias.iter_mut().enumerate() {
            // SAFETY: the bias holds whole panels.
            *b = unsafe { _mm512_loadu_ps(conv.bias.as_ptr().add(panel * PANEL + z * LANES)) };
        }
        for tile in share {
            let (first, n) = tile_span(tile, positions);
            let at = conv.tile_positions(first, n);
            // SAFETY: passed on from the caller; the panel's vectors start at `offset`.
            let acc = unsafe { steps::<NZ>([bias; POSITIONS], image, &conv.steps, conv.weights.as_ptr().add(offset), &at) };
            // SAFETY: passed on from the caller.
            unsafe { store::<NZ>(conv, &acc, out, panel, (first, n), epilogue) };
        }
    }

    /// `(first position, positions)` of tile `tile` of a panel.
    fn tile_span(tile: usize, positions: usize) -> (usize, usize) {
        let first = tile * POSITIONS;
        (first, (positions - first).min(POSITIONS))
    }

    /// `acc` plus the depth steps `steps` (their weight vectors from `w` on) of the positions at
    /// offsets `at` in `image`. (Blocks of depth steps shared by groups of tiles, so that each
    /// block's weights come from memory once, and fetching the next block's weights ahead, measured
    /// the same on ResNet-18's 7×7 convs, whose weights come from memory.)
    ///
    /// # Safety
    /// As [`tiles`]; `w` holds `NZ` vectors for each of `steps`.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    unsafe fn steps<const NZ: usize>(mut acc: [[__m512; NZ]; POSITIONS], image: &[f32], steps: &[usize], mut w: *const f32, at: &[usize; POSITIONS]) -> [[__m512; NZ]; POSITIONS] {
        for &step in steps {
            // SAFETY: every position's value at this step lies in the padded image.
            let a = unsafe { image.as_ptr().add(step) };
            let mut wv = [_mm512_setzero_ps(); NZ];
            for (z, v) in wv.iter_mut().enumerate() {
                // SAFETY: NZ vectors per step, in order.
                *v = unsafe { _mm512_loadu_ps(w.add(LANES * z)) };
            }
            for (row, &off) in acc.iter_mut().zip(at) {
                // SAFETY: see above.
                let x = _mm512_set1_ps(unsafe { *a.add(off) });
                for (s, &v) in row.iter_mut().zip(&wv) {
                    *s = _mm512_fmadd_ps(x, v, *s);
                }
            }
            // SAFETY: the next step's vectors (one past the panel after the last).
            w = unsafe { w.add(LANES * NZ) };
        }
        acc
    }

    /// The tile's sums as values `first .. first + n` of each of the panel's channel planes.
    ///
    /// # Safety
    /// As [`tiles`].
    #[target_feature(enable = "avx512f,avx512vl")]
    #[allow(clippy::needless_range_loop)] // `z` picks one vector of every position's sums.
    unsafe fn store<const NZ: usize>(conv: &LanesConvF32, acc: &[[__m512; NZ]; POSITIONS], out: &OutPtr<'_>, panel: usize, (first, n): (usize, usize), epilogue: Epilogue) {
        let positions = conv.geometry.out_len();
        let base = out.ptr();
        let mask: __mmask8 = (1u16 << n) as u8 - 1;
        let zero = _mm256_setzero_ps();
        for z in 0..NZ {
            let ch0 = panel * PANEL + z * LANES;
            let mut rows = [_mm512_setzero_ps(); 8];
            for (r, sums) in rows.iter_mut().zip(acc) {
                *r = sums[z];
            }
            // Sixteen runs of eight positions: channel `c`'s in quarter `c / 4` of pair `c % 4`.
            let runs = transpose_8x16(rows);
            for c in 0..(conv.out_channels - ch0).min(LANES) {
                let pair = runs[c % 4];
                let mut v = match c / 4 {
                    0 => _mm512_castps512_ps256(pair[0]),
                    1 => _mm512_extractf32x8_ps::<1>(pair[0]),
                    2 => _mm512_castps512_ps256(pair[1]),
                    _ => _mm512_extractf32x8_ps::<1>(pair[1]),
                };
                // SAFETY: positions first .. first + n of channel ch0 + c are inside the output
                // and this tile's own (the caller keeps other threads off them).
                unsafe {
                    let dst = base.add((ch0 + c) * positions + first);
                    if epilogue.add {
                        v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(mask, dst));
                    }
                    if epilogue.relu {
                        // ReLU keeping NaN, as the model's forward does: lanes `<= 0` become 0.
                        v = _mm256_mask_mov_ps(v, _mm256_cmp_ps_mask::<_CMP_LE_OQ>(v, zero), zero);
                    }
                    _mm256_mask_storeu_ps(dst, mask, v);
                }
            }
        }
    }

    /// Eight rows of sixteen lanes into sixteen runs of eight: lane `c` of every row lands in
    /// pair `c % 4`, vector `c / 8`, half `c / 4 % 2`, row `r` at place `r`.
    #[target_feature(enable = "avx512f")]
    fn transpose_8x16(r: [__m512; 8]) -> [[__m512; 2]; 4] {
        // Within each 128-bit lane `l` (channels 4l .. 4l + 4): pairs of rows, then quads.
        let t = [
            _mm512_unpacklo_ps(r[0], r[1]),
            _mm512_unpackhi_ps(r[0], r[1]),
            _mm512_unpacklo_ps(r[2], r[3]),
            _mm512_unpackhi_ps(r[2], r[3]),
            _mm512_unpacklo_ps(r[4], r[5]),
            _mm512_unpackhi_ps(r[4], r[5]),
            _mm512_unpacklo_ps(r[6], r[7]),
            _mm512_unpackhi_ps(r[6], r[7]),
        ];
        // u[j] (rows 0–3) and u[4 + j] (rows 4–7): lane l holds channel 4l + j.
        let u = [
            _mm512_shuffle_ps::<0x44>(t[0], t[2]),
            _mm512_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm512_shuffle_ps::<0x44>(t[1], t[3]),
            _mm512_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm512_shuffle_ps::<0x44>(t[4], t[6]),
            _mm512_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm512_shuffle_ps::<0x44>(t[5], t[7]),
            _mm512_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        // Lanes [a.0, b.0, a.1, b.1]: channels j and 4 + j; [a.2, b.2, a.3, b.3]: 8 + j and 12 + j.
        let low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        let high = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        std::array::from_fn(|j| [_mm512_permutex2var_ps(u[j], low, u[4 + j]), _mm512_permutex2var_ps(u[j], high, u[4 + j])])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv_f32::tests::reference;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `(C, H, W, K, stride, padding, O)`: strides 1 and 2, kernels 1 to 7, partial vectors and
    /// panels, maps smaller than a tile, tiles across rows.
    const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 9] = [
        (3, 11, 13, 7, 2, 3, 64),
        (16, 8, 8, 3, 1, 1, 64),
        (18, 7, 9, 3, 1, 1, 40),
        (32, 9, 9, 3, 2, 1, 80),
        (64, 8, 8, 1, 2, 0, 128),
        (5, 5, 5, 5, 1, 2, 130),
        (16, 1, 1, 3, 1, 1, 20),
        (24, 2, 3, 3, 1, 1, 7),
        (17, 6, 6, 2, 2, 0, 33),
    ];

    fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// A conv of `shape` with random weights, bias and image.
    fn case(rng: &mut StdRng, (c, h, w, k, s, p, o): (usize, usize, usize, usize, usize, usize, usize), relu: bool) -> (LanesConvF32, Vec<f32>, Vec<f32>, Vec<f32>) {
        let g = ConvGeometry::new(c, h, w, k, s, p).unwrap();
        let (weight, bias, x) = (random(o * g.col_rows(), rng), random(o, rng), random(g.image_len(), rng));
        (LanesConvF32::new(g, &weight, o, Some(&bias), relu).unwrap(), weight, bias, x)
    }

    /// The portable twin equals the definition (im2col, the plain GEMM in f64, bias, ReLU), and
    /// with a skip, the definition plus the skip.
    #[test]
    fn the_portable_twin_equals_the_definition() {
        let mut rng = StdRng::seed_from_u64(31);
        let mut padded = Vec::new();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let relu = i % 2 == 0;
            let (conv, weight, bias, x) = case(&mut rng, shape, relu);
            let g = conv.geometry();
            let want = reference(g, &x, &weight, shape.6, &bias, relu);
            let mut got = vec![f32::NAN; want.len()];
            conv.forward_generic(&x, &mut got, &mut padded).unwrap();
            let skip = random(want.len(), &mut rng);
            let mut added = skip.clone();
            conv.forward_add_generic(&x, &mut added, &mut padded, true).unwrap();
            let plain = reference(g, &x, &weight, shape.6, &bias, false);
            for (j, ((&a, &b), (&s, &d))) in got.iter().zip(&want).zip(skip.iter().zip(&plain)).enumerate() {
                assert!((a - b).abs() <= 1e-4, "{shape:?} at {j}: {a} against {b}");
                assert!((added[j] - (d + s).max(0.0)).abs() <= 1e-4, "{shape:?} with the skip at {j}");
            }
        }
    }

    /// The SIMD kernel equals the portable twin bit for bit, on one thread and on the team, with
    /// and without the skip.
    #[test]
    fn the_simd_kernel_equals_the_portable_twin() {
        if !LanesConvF32::available() {
            eprintln!("skipped: AVX-512 not on this CPU or above FASTERAI_MAX_ISA");
            return;
        }
        let mut rng = StdRng::seed_from_u64(32);
        let mut padded = Vec::new();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let (conv, _, _, x) = case(&mut rng, shape, i % 2 == 1);
            let len = shape.6 * conv.geometry().out_len();
            let mut want = vec![0.0; len];
            conv.forward_generic(&x, &mut want, &mut padded).unwrap();
            let skip = random(len, &mut rng);
            let mut want_added = skip.clone();
            conv.forward_add_generic(&x, &mut want_added, &mut padded, i % 3 == 0).unwrap();
            for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                let mut got = vec![f32::NAN; len];
                conv.forward(&x, &mut got, &mut padded, parallelism).unwrap();
                assert_eq!(got, want, "{shape:?}, {parallelism:?}");
                let mut added = skip.clone();
                conv.forward_add(&x, &mut added, &mut padded, parallelism, i % 3 == 0).unwrap();
                assert_eq!(added, want_added, "{shape:?} with the skip, {parallelism:?}");
            }
        }
    }

    /// A NaN in the image stays NaN through the ReLU (PyTorch's semantics), on both kernels.
    #[test]
    fn the_relu_keeps_nan() {
        let g = ConvGeometry::new(1, 1, 2, 1, 1, 0).unwrap();
        let conv = LanesConvF32::new(g, &[1.0, -1.0], 2, None, true).unwrap();
        let x = [f32::NAN, -3.0];
        let (mut simd, mut twin) = ([0.0; 4], [0.0; 4]);
        conv.forward(&x, &mut simd, &mut Vec::new(), Parallelism::Sequential).unwrap();
        conv.forward_generic(&x, &mut twin, &mut Vec::new()).unwrap();
        for out in [simd, twin] {
            assert!(out[0].is_nan() && out[2].is_nan(), "{out:?}");
            assert_eq!([out[1], out[3]], [0.0, 3.0]);
        }
    }

    #[test]
    fn bad_operands_are_errors() {
        let g = ConvGeometry::new(2, 4, 4, 3, 2, 1).unwrap();
        assert!(matches!(LanesConvF32::new(g, &[0.0; 35], 2, None, false), Err(KernelError::OperandLength { operand: "weight", .. })));
        assert!(matches!(LanesConvF32::new(g, &[0.0; 36], 2, Some(&[0.0]), false), Err(KernelError::OperandLength { operand: "bias", .. })));
        let conv = LanesConvF32::new(g, &[0.0; 36], 2, None, false).unwrap();
        let mut out = vec![0.0; 8];
        assert!(matches!(conv.forward(&[0.0; 31], &mut out, &mut Vec::new(), Parallelism::Sequential), Err(KernelError::OperandLength { operand: "image", .. })));
        assert!(matches!(conv.forward_generic(&[0.0; 32], &mut out[1..], &mut Vec::new()), Err(KernelError::OperandLength { operand: "output", .. })));
    }
}
