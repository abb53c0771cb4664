//! A quantized stride-1 conv over few values per output (`C·K·K ≤ 32`): a network's first conv, on
//! one or three channels, where a patch matrix padded to the GEMM's depth unit would be mostly zeros.
//!
//! Output positions go in the lanes. For sixteen positions of one output row, depth step `d =
//! (c, ky, kx)` reads sixteen consecutive bytes of the padded input; four steps' bytes, interleaved,
//! are the sixteen `u8` quads one `vpdpbusd` multiplies by a broadcast quad of channel `o`'s `i8`
//! weights. The band's quads are built once, then every output channel runs over them through its
//! output stage and stores sixteen bytes of its plane per step. Exact integers: the results equal the portable twin
//! ([`ShallowConvU8::forward_rows_generic`]) and the im2col + GEMM path.
//!
//! Where the CPU has AVX2 but not AVX-512 VNNI (AMD Zen 1–3, Intel before Ice Lake), eight positions
//! go in the lanes: two depth steps' bytes, widened to `i16` and interleaved, are the pairs one
//! `vpmaddwd` multiplies by a broadcast pair of the channel's weights (exact: a pair's sum is at most
//! `2 · 255 · 128`). [`ShallowConvU8::new`] returns `None` on CPUs with neither.
//!
//! ```
//! use fasterai_runtime::kernels::conv_u8_shallow::ShallowConvU8;
//! use fasterai_runtime::kernels::generic::im2col_u8::ConvShape;
//! use fasterai_runtime::quant::{ActivationQParams, OutputStage, QuantizedWeights};
//! let shape = ConvShape::new(1, 3, 3, 3, 1, 1)?;
//! let w = QuantizedWeights::quantize(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 1)?; // identity
//! let p = ActivationQParams::from_range(0.0, 2.55)?;
//! let stage = OutputStage::new(p, &w, None, p, true)?;
//! let image = [1, 2, 3, 4, 5, 6, 7, 8, 9];
//! if let Some(conv) = ShallowConvU8::new(shape, &w.values, 1) {
//!     let mut out = [0; 9];
//!     conv.forward(&image, p.zero_point, &stage, &mut out, false)?;
//!     assert_eq!(out, image);
//! }
//! # Ok::<(), fasterai_runtime::quant::QuantError>(())
//! ```

use std::cell::Cell;
use std::ops::Range;

use super::generic::im2col_u8::ConvShape;
use super::conv_geometry::pad_rows;
use super::team::Team;
use super::isa::Isa;
use super::OutPtr;
use crate::quant::{requantize_one, OutputStage, QuantError};

/// Deepest conv this kernel takes: eight quads of depth steps (a 3×3 kernel over 3 channels, a 5×5
/// over 1). Deeper convs fill the GEMM's depth unit well enough.
pub const MAX_DEPTH: usize = 32;

/// Convs of at least this many multiply-adds split their rows over the team when run whole
/// (SmallVgg's first conv, 0.23 M, measured 7.7 µs split against 12.7 µs on one thread).
pub const PARALLEL_MACS: usize = 1 << 17;

/// Positions per group (the lanes of one vector).
const LANES: usize = 16;

/// Bytes a group's loads may read past the padded image (the junk lanes of a row's last group).
const SLACK: usize = 2 * LANES;

thread_local! {
    /// A thread's padded rows and quads for whole-image runs (the band schedule passes its own).
    /// Taken and put back, so a re-entrant call gets a fresh one.
    static THREAD_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A stride-1 conv of depth at most [`MAX_DEPTH`] with its weights as quads. See the module docs.
#[derive(Debug, Clone)]
pub struct ShallowConvU8 {
    shape: ConvShape,
    out_channels: usize,
    /// Quads of depth steps, `⌈C·K·K / 4⌉`.
    quads: usize,
    /// `[O, quads]`: the four `i8` weights of steps `4j .. 4j + 4` of channel `o` in one word
    /// (zero past the depth).
    weights: Vec<i32>,
    /// Offset of depth step `d`'s run in the padded image, for `4·quads` steps (steps past the depth
    /// read step 0's run, against zero weights).
    offsets: Vec<usize>,
    /// `[O, 2·quads]`: the weights of steps `2j` and `2j + 1` of channel `o` as two `i16` in one
    /// word, for the AVX2 kernel's `vpmaddwd`.
    #[cfg(target_arch = "x86_64")]
    pairs: Vec<i32>,
}

impl ShallowConvU8 {
    /// The conv of `shape` with row-major weights `[O, C·K·K]`, or `None` when this kernel does not
    /// take it: a stride other than 1, a depth over [`MAX_DEPTH`], or a CPU without AVX-512 VNNI.
    pub fn new(shape: ConvShape, weights: &[i8], out_channels: usize) -> Option<Self> {
        Self::available().then_some(())?;
        Self::for_cpu_or_not(shape, weights, out_channels)
    }

    /// Whether the kernel may run: [`Isa::Avx512Vnni`] or [`Isa::Avx2`] enabled (on the CPU, and not
    /// above the `FASTERAI_MAX_ISA` cap).
    pub fn available() -> bool {
        cfg!(target_arch = "x86_64") && (Isa::Avx512Vnni.enabled() || Isa::Avx2.enabled())
    }

    /// [`Self::new`] without the CPU check (the portable twin runs anywhere).
    fn for_cpu_or_not(shape: ConvShape, weights: &[i8], out_channels: usize) -> Option<Self> {
        let k = shape.kernel;
        let depth = shape.channels * k * k;
        if shape.stride != 1 || depth == 0 || depth > MAX_DEPTH || weights.len() != out_channels * depth {
            return None;
        }
        let quads = depth.div_ceil(4);
        let mut packed = vec![0i32; out_channels * quads];
        for (row, words) in weights.chunks_exact(depth).zip(packed.chunks_exact_mut(quads)) {
            for (word, steps) in words.iter_mut().zip(row.chunks(4)) {
                let mut bytes = [0u8; 4];
                for (b, &w) in bytes.iter_mut().zip(steps) {
                    *b = w as u8;
                }
                *word = i32::from_le_bytes(bytes);
            }
        }
        let (hp, wp) = (shape.height + 2 * shape.padding, shape.width + 2 * shape.padding);
        let mut offsets: Vec<usize> = (0..shape.channels)
            .flat_map(|c| (0..k).flat_map(move |ky| (0..k).map(move |kx| c * hp * wp + ky * wp + kx)))
            .collect();
        offsets.resize(4 * quads, 0);
        #[cfg(target_arch = "x86_64")]
        let pairs = packed
            .iter()
            .flat_map(|word| {
                let [a, b, c, d] = word.to_le_bytes().map(|w| w as i8 as i16 as u16 as u32);
                [(a | b << 16) as i32, (c | d << 16) as i32]
            })
            .collect();
        Some(Self {
            shape,
            out_channels,
            quads,
            weights: packed,
            offsets,
            #[cfg(target_arch = "x86_64")]
            pairs,
        })
    }

    /// The conv's input shape.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Multiply-adds of one image.
    pub fn macs(&self) -> usize {
        self.out_channels * self.shape.depth() * self.shape.positions()
    }

    /// `out = stage(conv(x))`: the whole `[C, H, W]` image (`zero_point` is its quantization's, the
    /// padding value) into `[O, OH, OW]`, rows split over [`Team::global`] when `parallel`. Each
    /// thread keeps its buffer from call to call.
    pub fn forward(&self, x: &[u8], zero_point: u8, stage: &OutputStage, out: &mut [u8], parallel: bool) -> Result<(), QuantError> {
        self.check(x, stage, out.len())?;
        let oh = self.shape.out_height();
        let team = Team::global();
        let parts = if parallel { team.threads().min(oh).max(1) } else { 1 };
        let out = OutPtr::new(out);
        team.run(parts, &|range| {
            let mut buffer = THREAD_BUFFER.with(Cell::take);
            for i in range {
                // SAFETY: the shares' rows are disjoint; the CPU was checked in `new`.
                unsafe { self.rows_unchecked(x, zero_point, stage, &out, i * oh / parts..(i + 1) * oh / parts, &mut buffer) };
            }
            THREAD_BUFFER.with(|cell| cell.set(buffer));
        });
        Ok(())
    }

    /// Output rows `rows` of every channel into `out` (the whole `[O, OH, OW]` output; its other rows
    /// are not touched), on the calling thread; `buffer` receives the padded input rows the band
    /// reads and the band's quads.
    ///
    /// # Safety
    /// No other thread may reach rows `rows` of `out` while this runs.
    pub(crate) unsafe fn forward_rows(&self, x: &[u8], zero_point: u8, stage: &OutputStage, out: &OutPtr<'_, u8>, rows: Range<usize>, buffer: &mut Vec<u8>) -> Result<(), QuantError> {
        self.check(x, stage, out.len())?;
        assert!(rows.start <= rows.end && rows.end <= self.shape.out_height(), "the band {rows:?} lies inside the output");
        // SAFETY: passed on from the caller; the CPU was checked in `new`.
        unsafe { self.rows_unchecked(x, zero_point, stage, out, rows, buffer) };
        Ok(())
    }

    /// Output rows `rows` of every channel, as plain loops over the same quads (the twin the SIMD
    /// kernel is tested against), into a `[O, OH, OW]` slice; its other rows are not touched.
    pub fn forward_rows_generic(&self, x: &[u8], zero_point: u8, stage: &OutputStage, out: &mut [u8], rows: Range<usize>) -> Result<(), QuantError> {
        self.check(x, stage, out.len())?;
        let s = &self.shape;
        let (ow, plane) = (s.out_width(), s.out_height() * s.out_width());
        let mut padded = Vec::new();
        pad_rows(x, (s.height, s.width), s.padding, rows.start..rows.end + s.kernel - 1, zero_point, SLACK, &mut padded);
        let wp = s.width + 2 * s.padding;
        for (o, words) in self.weights.chunks_exact(self.quads).enumerate() {
            for y in rows.clone() {
                for xo in 0..ow {
                    let mut acc = 0i32;
                    for (j, word) in words.iter().enumerate() {
                        for (i, &w) in word.to_le_bytes().iter().enumerate() {
                            acc += w as i8 as i32 * padded[y * wp + xo + self.offsets[4 * j + i]] as i32;
                        }
                    }
                    out[o * plane + y * ow + xo] = requantize_one(&stage.channels[o], stage.output_zero_point, stage.clamp_min, acc);
                }
            }
        }
        Ok(())
    }

    fn check(&self, x: &[u8], stage: &OutputStage, out: usize) -> Result<(), QuantError> {
        let s = &self.shape;
        let len = s.channels * s.height * s.width;
        if x.len() != len {
            return Err(QuantError::LengthMismatch { what: "conv input", expected: len, found: x.len() });
        }
        let expected = self.out_channels * s.out_height() * s.out_width();
        if out != expected {
            return Err(QuantError::LengthMismatch { what: "conv output", expected, found: out });
        }
        if stage.channels.len() != self.out_channels {
            return Err(QuantError::LengthMismatch { what: "output stage", expected: self.out_channels, found: stage.channels.len() });
        }
        Ok(())
    }

    /// # Safety
    /// As [`Self::forward_rows`], with the operands checked and the CPU vouched for.
    unsafe fn rows_unchecked(&self, x: &[u8], zero_point: u8, stage: &OutputStage, out: &OutPtr<'_, u8>, rows: Range<usize>, buffer: &mut Vec<u8>) {
        if rows.is_empty() || self.out_channels == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: passed on from the caller (`new` checked that one of the two tiers is enabled).
        unsafe {
            if Isa::Avx512Vnni.enabled() {
                avx512::rows(self, x, zero_point, stage, out, rows, buffer)
            } else {
                avx2::rows(self, x, zero_point, stage, out, rows, buffer)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (x, zero_point, stage, out, buffer);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{pad_rows, ShallowConvU8, LANES, SLACK};
    use crate::kernels::x86_64::requantize512::requantize16;
    use crate::kernels::OutPtr;
    use crate::quant::OutputStage;

    /// See [`ShallowConvU8::forward_rows`]: pads the band's input rows, builds its quads (`groups ×
    /// quads` vectors), then runs each channel over them.
    ///
    /// # Safety
    /// AVX-512 F, BW, VL and VNNI must be available, the operands checked, and no other thread may reach
    /// rows `rows` of `out`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn rows(conv: &ShallowConvU8, x: &[u8], zero_point: u8, stage: &OutputStage, out: &OutPtr<'_, u8>, rows: Range<usize>, buffer: &mut Vec<u8>) {
        let s = &conv.shape;
        let (ow, wp) = (s.out_width(), s.width + 2 * s.padding);
        let plane = s.out_height() * ow;
        let per_row = ow.div_ceil(LANES);
        let groups = rows.len() * per_row;
        let padded_len = s.channels * (s.height + 2 * s.padding) * wp + SLACK;
        let quads_len = groups * conv.quads * 64;
        pad_rows(x, (s.height, s.width), s.padding, rows.start..rows.end + s.kernel - 1, zero_point, SLACK, buffer);
        if buffer.len() < padded_len + quads_len + 64 {
            buffer.resize(padded_len + quads_len + 64, 0);
        }
        let (padded, quads) = buffer.split_at_mut(padded_len);
        // Align the quads to whole cache lines.
        let skip = quads.as_ptr().align_offset(64);
        let quads = &mut quads[skip..skip + quads_len];
        // The band's quads: group g = (row, column group), vector j = steps 4j .. 4j + 4.
        let mut g = 0;
        for y in rows.clone() {
            for x0 in (0..ow).step_by(LANES) {
                let base = y * wp + x0;
                for j in 0..conv.quads {
                    let run = |i: usize| {
                        let at = base + conv.offsets[4 * j + i];
                        // SAFETY: a run of 16 bytes from `at` lies inside the padded image and
                        // its slack (the last group of the last row reads at most 2·LANES past it).
                        unsafe { _mm_loadu_si128(padded.as_ptr().add(at).cast()) }
                    };
                    let (v0, v1, v2, v3) = (run(0), run(1), run(2), run(3));
                    let (lo01, hi01) = (_mm_unpacklo_epi8(v0, v1), _mm_unpackhi_epi8(v0, v1));
                    let (lo23, hi23) = (_mm_unpacklo_epi8(v2, v3), _mm_unpackhi_epi8(v2, v3));
                    let q = _mm512_castsi128_si512(_mm_unpacklo_epi16(lo01, lo23));
                    let q = _mm512_inserti32x4::<1>(q, _mm_unpackhi_epi16(lo01, lo23));
                    let q = _mm512_inserti32x4::<2>(q, _mm_unpacklo_epi16(hi01, hi23));
                    let q = _mm512_inserti32x4::<3>(q, _mm_unpackhi_epi16(hi01, hi23));
                    // SAFETY: vector (g, j) is inside the quads buffer, aligned above.
                    unsafe { _mm512_store_si512(quads.as_mut_ptr().add((g * conv.quads + j) * 64).cast(), q) };
                }
                g += 1;
            }
        }
        let base = out.ptr();
        for (o, words) in conv.weights.chunks_exact(conv.quads).enumerate() {
            let channel = &stage.channels[o];
            let mut g = 0;
            for y in rows.clone() {
                for x0 in (0..ow).step_by(LANES) {
                    let mut acc = _mm512_setzero_si512();
                    for (j, &w) in words.iter().enumerate() {
                        // SAFETY: vector (g, j) is inside the quads buffer.
                        let q = unsafe { _mm512_load_si512(quads.as_ptr().add((g * conv.quads + j) * 64).cast()) };
                        acc = _mm512_dpbusd_epi32(acc, q, _mm512_set1_epi32(w));
                    }
                    let bytes = _mm512_cvtepi32_epi8(requantize16(acc, channel, stage.output_zero_point, stage.clamp_min));
                    let n = (ow - x0).min(LANES);
                    // SAFETY: bytes o·plane + y·ow + x0 .. + n are row y of channel o, inside the
                    // output; the caller keeps other threads off row y.
                    unsafe { _mm_mask_storeu_epi8(base.add(o * plane + y * ow + x0).cast(), ((1u32 << n) - 1) as __mmask16, bytes) };
                    g += 1;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{pad_rows, ShallowConvU8, SLACK};
    use crate::kernels::x86_64::requantize::requantize8;
    use crate::kernels::OutPtr;
    use crate::quant::OutputStage;

    /// Positions per group (the `i32` lanes of one vector).
    const LANES: usize = 8;

    /// See [`ShallowConvU8::forward_rows`]: pads the band's input rows, builds its pairs (`groups ×
    /// 2·quads` vectors of sixteen `i16`), then runs each channel over them.
    ///
    /// # Safety
    /// AVX2 and FMA must be available, the operands checked, and no other thread may reach rows
    /// `rows` of `out`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows(conv: &ShallowConvU8, x: &[u8], zero_point: u8, stage: &OutputStage, out: &OutPtr<'_, u8>, rows: Range<usize>, buffer: &mut Vec<u8>) {
        let s = &conv.shape;
        let (ow, wp) = (s.out_width(), s.width + 2 * s.padding);
        let plane = s.out_height() * ow;
        let pairs = 2 * conv.quads;
        let groups = rows.len() * ow.div_ceil(LANES);
        let padded_len = s.channels * (s.height + 2 * s.padding) * wp + SLACK;
        let pairs_len = groups * pairs * 32;
        pad_rows(x, (s.height, s.width), s.padding, rows.start..rows.end + s.kernel - 1, zero_point, SLACK, buffer);
        if buffer.len() < padded_len + pairs_len + 32 {
            buffer.resize(padded_len + pairs_len + 32, 0);
        }
        let (padded, rest) = buffer.split_at_mut(padded_len);
        let skip = rest.as_ptr().align_offset(32);
        let vectors = &mut rest[skip..skip + pairs_len];
        // The band's pairs: group g = (row, column group), vector j = steps 2j and 2j + 1.
        let mut g = 0;
        for y in rows.clone() {
            for x0 in (0..ow).step_by(LANES) {
                let base = y * wp + x0;
                for j in 0..pairs {
                    let run = |i: usize| {
                        // SAFETY: a run of 8 bytes lies inside the padded image and its slack.
                        unsafe { _mm_loadl_epi64(padded.as_ptr().add(base + conv.offsets[2 * j + i]).cast()) }
                    };
                    let v = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(run(0), run(1)));
                    // SAFETY: vector (g, j) is inside the pairs buffer, aligned above.
                    unsafe { _mm256_store_si256(vectors.as_mut_ptr().add((g * pairs + j) * 32).cast(), v) };
                }
                g += 1;
            }
        }
        // Byte 0 of each `i32` lane to the front of its 128-bit half, then the halves together.
        let gather = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        let halves = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        let base = out.ptr();
        for (o, words) in conv.pairs.chunks_exact(pairs).enumerate() {
            let channel = &stage.channels[o];
            let mut g = 0;
            for y in rows.clone() {
                for x0 in (0..ow).step_by(LANES) {
                    let mut acc = _mm256_setzero_si256();
                    for (j, &w) in words.iter().enumerate() {
                        // SAFETY: vector (g, j) is inside the pairs buffer.
                        let v = unsafe { _mm256_load_si256(vectors.as_ptr().add((g * pairs + j) * 32).cast()) };
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, _mm256_set1_epi32(w)));
                    }
                    let q = requantize8(acc, channel, stage.output_zero_point, stage.clamp_min);
                    let packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(q, gather), halves);
                    let bytes = (_mm_cvtsi128_si64(_mm256_castsi256_si128(packed)) as u64).to_le_bytes();
                    let n = (ow - x0).min(LANES);
                    // SAFETY: bytes o·plane + y·ow + x0 .. + n are row y of channel o, inside the
                    // output; the caller keeps other threads off row y.
                    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(o * plane + y * ow + x0), n) };
                    g += 1;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::quant::{ActivationQParams, QuantizedWeights};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// `Σ w·x` straight from the definition (any stride), the zero point outside the image.
    pub(crate) fn reference(x: &[u8], w: &[i8], s: ConvShape, o: usize, zp: u8) -> Vec<i32> {
        let (oh, ow, k) = (s.out_height(), s.out_width(), s.kernel);
        let mut out = vec![0i32; o * oh * ow];
        for (oc, plane) in out.chunks_exact_mut(oh * ow).enumerate() {
            for (p, acc) in plane.iter_mut().enumerate() {
                let (y, xo) = (p / ow, p % ow);
                for c in 0..s.channels {
                    for i in 0..k {
                        for j in 0..k {
                            let (iy, ix) = ((y * s.stride + i) as isize - s.padding as isize, (xo * s.stride + j) as isize - s.padding as isize);
                            let inside = (0..s.height as isize).contains(&iy) && (0..s.width as isize).contains(&ix);
                            let v = if inside { x[(c * s.height + iy as usize) * s.width + ix as usize] } else { zp };
                            *acc += w[((oc * s.channels + c) * k + i) * k + j] as i32 * v as i32;
                        }
                    }
                }
            }
        }
        out
    }

    /// A random image, weights, bias and stage for a conv of `s` with `o` outputs, and the input's zero point.
    pub(crate) fn case(rng: &mut SmallRng, s: ConvShape, o: usize) -> (Vec<u8>, QuantizedWeights, OutputStage, u8) {
        let depth = s.channels * s.kernel * s.kernel;
        let w: Vec<f32> = (0..o * depth).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let qw = QuantizedWeights::quantize(&w, o).unwrap();
        let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let input = ActivationQParams::from_range(-0.3, 1.0).unwrap();
        let output = ActivationQParams::from_range(-2.0, 3.0).unwrap();
        let stage = OutputStage::new(input, &qw, Some(&bias), output, rng.gen_bool(0.5)).unwrap();
        let x: Vec<u8> = (0..s.channels * s.height * s.width).map(|_| rng.gen()).collect();
        (x, qw, stage, input.zero_point)
    }

    const SHAPES: [(usize, usize, usize, usize, usize, usize); 7] =
        [(1, 28, 28, 3, 1, 32), (3, 9, 13, 3, 1, 5), (1, 5, 7, 3, 0, 17), (1, 11, 17, 5, 2, 3), (3, 6, 33, 3, 1, 1), (3, 16, 16, 3, 1, 64), (1, 3, 3, 1, 0, 2)];

    /// The portable twin equals the definition then the scalar output stage, on odd sizes, row
    /// tails past a vector, every kernel size up to the deepest.
    #[test]
    fn the_portable_twin_equals_the_integer_reference() {
        let mut rng = SmallRng::seed_from_u64(11);
        for (c, h, w, k, p, o) in SHAPES {
            let s = ConvShape::new(c, h, w, k, 1, p).unwrap();
            let (x, qw, stage, zp) = case(&mut rng, s, o);
            let conv = ShallowConvU8::for_cpu_or_not(s, &qw.values, o).expect("a shallow conv");
            let want: Vec<u8> = reference(&x, &qw.values, s, o, zp).iter().enumerate().map(|(i, &a)| stage.requantize(i / (s.out_height() * s.out_width()), a)).collect();
            let mut got = vec![0u8; want.len()];
            conv.forward_rows_generic(&x, zp, &stage, &mut got, 0..s.out_height()).unwrap();
            assert_eq!(got, want, "{s:?} → {o}");
        }
    }

    /// The SIMD kernel equals the portable twin, whole and by bands of rows, on one thread and on
    /// the team.
    #[test]
    fn the_simd_kernel_equals_the_portable_twin() {
        if !ShallowConvU8::available() {
            eprintln!("skipped: this CPU has neither AVX-512 VNNI nor AVX2");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(12);
        for (c, h, w, k, p, o) in SHAPES {
            let s = ConvShape::new(c, h, w, k, 1, p).unwrap();
            let (x, qw, stage, zp) = case(&mut rng, s, o);
            let conv = ShallowConvU8::new(s, &qw.values, o).expect("a shallow conv");
            let mut want = vec![0u8; o * s.out_height() * s.out_width()];
            conv.forward_rows_generic(&x, zp, &stage, &mut want, 0..s.out_height()).unwrap();
            for parallel in [false, true] {
                let mut got = vec![1u8; want.len()];
                conv.forward(&x, zp, &stage, &mut got, parallel).unwrap();
                assert_eq!(got, want, "{s:?} → {o}, parallel {parallel}");
            }
            let split = s.out_height() / 3;
            let mut got = vec![1u8; want.len()];
            let mut buffer = Vec::new();
            for rows in [split..s.out_height(), 0..split] {
                // SAFETY: one thread.
                unsafe { conv.forward_rows(&x, zp, &stage, &OutPtr::new(&mut got), rows, &mut buffer).unwrap() };
            }
            assert_eq!(got, want, "{s:?} → {o} by bands");
            #[cfg(target_arch = "x86_64")]
            if Isa::Avx2.on_cpu() {
                // The AVX2 tier whatever the table in force: whole, then by bands.
                let oh = s.out_height();
                for bands in [vec![0..oh], vec![split..oh, 0..split]] {
                    let mut got = vec![1u8; want.len()];
                    for rows in bands {
                        // SAFETY: AVX2 is on the CPU; one thread.
                        unsafe { avx2::rows(&conv, &x, zp, &stage, &OutPtr::new(&mut got), rows, &mut buffer) };
                    }
                    assert_eq!(got, want, "{s:?} → {o} on the AVX2 tier");
                }
            }
        }
    }

    #[test]
    fn convs_it_does_not_take_and_bad_operands() {
        let deep = ConvShape::new(8, 6, 6, 3, 1, 1).unwrap();
        assert!(ShallowConvU8::for_cpu_or_not(deep, &[0; 8 * 72], 8).is_none(), "72 steps are too deep");
        let strided = ConvShape::new(1, 6, 6, 3, 2, 1).unwrap();
        assert!(ShallowConvU8::for_cpu_or_not(strided, &[0; 9], 1).is_none(), "stride 2");
        let s = ConvShape::new(1, 4, 4, 3, 1, 1).unwrap();
        let mut rng = SmallRng::seed_from_u64(13);
        let (x, qw, stage, zp) = case(&mut rng, s, 2);
        let conv = ShallowConvU8::for_cpu_or_not(s, &qw.values, 2).unwrap();
        assert!(matches!(conv.forward_rows_generic(&x[1..], zp, &stage, &mut [0; 32], 0..4), Err(QuantError::LengthMismatch { what: "conv input", .. })));
        assert!(matches!(conv.forward_rows_generic(&x, zp, &stage, &mut [0; 31], 0..4), Err(QuantError::LengthMismatch { what: "conv output", .. })));
    }
}
