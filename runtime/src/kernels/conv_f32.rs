//! A stride-1 fp32 convolution that never builds a patch matrix: the inference plans' conv, and the
//! training step's forward and input gradient (one image per task).
//!
//! With stride 1, pad the image once; then the patch row of input channel `c` and kernel offset
//! `(ky, kx)` over the *wide* output positions `q = y·(W + 2p) + x` is one contiguous run of the
//! padded image, starting at `c·Hp·Wp + ky·Wp + kx`. The tile kernel reads those runs in place (one
//! offset per depth step), multiplies them with a panel of [`MR`] output channels' weights, adds the
//! bias, applies the ReLU, and stores each output row's lanes straight to their `[O, OH, OW]` place
//! (masked stores; the `Wp − OW` junk positions per row are computed and never written). No im2col
//! buffer, no packing of the activations, no compaction pass.
//!
//! Tile kernels (chosen when the conv is built, from [`F32Kernels::best`]): AVX-512F (`8 × 32`),
//! AVX2+FMA (`8 × 8`), and the plain twin of the same tiling ([`ConvF32::forward_generic`]) the tests
//! compare them with (next to a reference built from
//! [`reference_im2col_f32`](super::reference_im2col_f32) and
//! [`reference_gemm_f32`](super::reference_gemm_f32)). The tile operands are in `conv_tile.rs`.
//!
//! ```
//! use fasterai_runtime::kernels::{ConvF32, ConvGeometry, ConvScratchF32, Parallelism};
//! let g = ConvGeometry::new(1, 3, 3, 3, 1, 1)?;
//! let identity = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
//! let conv = ConvF32::new(g, &identity, 1, Some(&[0.5]), false)?;
//! let mut out = [0.0; 9];
//! let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
//! conv.forward(&image, &mut out, &mut ConvScratchF32::default(), Parallelism::Sequential)?;
//! assert_eq!(out, [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use std::cell::Cell;
use std::ops::Range;

use super::conv_geometry::pad_rows;
use super::conv_tile::{tile_segments, ConvTile, Segment, Tile, MAX_SEGMENTS, MR};
use super::table_f32::F32Kernels;
use super::out_ptr::{OutPtr, OutView};
use super::team::Team;
use super::{ConvGeometry, KernelError, Parallelism};


/// Depth steps per block: every 3×3 conv over up to 128 channels sums in one block, so no partial
/// sums go out to memory and back. Measured against 256 (A/B in one process, one thread): 0.90–0.95×
/// the time on SmallVgg's convs, 0.92× on VGG16's 64-channel ones, 1.03× on its 128 → 256 conv;
/// larger blocks measured the same as 1024.
const DEPTH_BLOCK: usize = 1152;

/// Below this many multiply-adds a conv split by output channels runs on the calling thread:
/// handing out shares costs more than it saves.
const PARALLEL_MACS: usize = 1 << 20;

/// The same for a split into bands of rows, which pays off sooner: each thread then writes the rows
/// that its band of the next layer reads. SmallVgg's first conv (0.2 M) is split.
const PARALLEL_BAND_MACS: usize = 1 << 17;

/// Bands of output rows are given to threads only when each band spans at least this many column
/// tiles; smaller maps split the output channels.
const MIN_BAND_TILES: usize = 4;

/// Weight panels whose bytes fit this budget are run together over every column tile, so they stay
/// in a core's L2 cache while the image streams past.
const PANEL_BLOCK_BYTES: usize = 1 << 20;

/// A stride-1 convolution with its weights laid out in panels of `MR` (8) output channels, bias and
/// ReLU fused. Build it with [`ConvF32::new`], run it with [`ConvF32::forward`].
#[derive(Debug, Clone)]
pub struct ConvF32 {
    geometry: ConvGeometry,
    out_channels: usize,
    /// Panel `p`, depth step `k`, lane `r`: weight of output channel `p·MR + r` at depth `k`
    /// (zero for the lanes past the last channel).
    panels: Vec<f32>,
    /// One per output channel, padded with zeros to whole panels.
    bias: Vec<f32>,
    /// Offset of depth step `k = (c, ky, kx)`'s run in the padded image (the kept steps only, in
    /// that order: see [`ConvF32::with_taps`]).
    offsets: Vec<usize>,
    relu: bool,
    /// The tile kernel, chosen when the conv is built ([`F32Kernels::best`]).
    tile: ConvTile,
}

/// The padded image a conv reuses from call to call.
#[derive(Debug, Clone, Default)]
pub struct ConvScratchF32 {
    padded: Vec<f32>,
}

impl ConvF32 {
    /// A conv of geometry `g` (stride 1) with row-major weights `[O, C·K·K]`, an optional bias per
    /// output channel and an optional fused ReLU.
    pub fn new(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool) -> Result<Self, KernelError> {
        Self::build(g, weight, out_channels, bias, relu, None)
    }

    /// [`Self::new`] keeping only the depth steps `(c, ky, kx)` (in `im2col` row order) whose entry
    /// of `taps` is true: the others are structural zeros the conv never multiplies, such as the
    /// taps past the kernel of a [`SpaceToDepth`](super::SpaceToDepth) form
    /// ([`SpaceToDepth::taps`](super::SpaceToDepth::taps)), which then runs with the original
    /// conv's multiply-adds. `weight` is still the whole `[O, C·K·K]`.
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvF32, ConvGeometry, ConvScratchF32, Parallelism};
    /// // A 2×2 kernel over a 2×3 image keeping only its top-left tap: twice each output's pixel.
    /// let g = ConvGeometry::new(1, 2, 3, 2, 1, 0)?;
    /// let taps = [true, false, false, false];
    /// let conv = ConvF32::with_taps(g, &[2.0, 100.0, 100.0, 100.0], 1, None, false, &taps)?;
    /// let mut out = [0.0; 2];
    /// let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// conv.forward(&image, &mut out, &mut ConvScratchF32::default(), Parallelism::Sequential)?;
    /// assert_eq!(out, [2.0, 4.0]);
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn with_taps(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool, taps: &[bool]) -> Result<Self, KernelError> {
        if taps.len() != g.col_rows() {
            return Err(KernelError::OperandLength { operand: "taps", expected: g.col_rows(), found: taps.len() });
        }
        Self::build(g, weight, out_channels, bias, relu, Some(taps))
    }

    fn build(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool, taps: Option<&[bool]>) -> Result<Self, KernelError> {
        if g.stride() != 1 {
            return Err(KernelError::StrideNotOne { stride: g.stride() });
        }
        let depth = g.col_rows();
        let expected = out_channels.checked_mul(depth).ok_or(KernelError::SizeOverflow { rows: out_channels, cols: depth })?;
        if weight.len() != expected {
            return Err(KernelError::OperandLength { operand: "weight", expected, found: weight.len() });
        }
        if let Some(b) = bias {
            if b.len() != out_channels {
                return Err(KernelError::OperandLength { operand: "bias", expected: out_channels, found: b.len() });
            }
        }
        let kept = |k: usize| taps.is_none_or(|t| t[k]);
        let kk = g.kernel();
        let (hp, wp) = (g.padded_height(), g.padded_width());
        let mut offsets = Vec::with_capacity(depth);
        for c in 0..g.channels() {
            for ky in 0..kk {
                for kx in 0..kk {
                    if kept((c * kk + ky) * kk + kx) {
                        offsets.push(c * hp * wp + ky * wp + kx);
                    }
                }
            }
        }
        let steps = offsets.len();
        let panels_count = out_channels.div_ceil(MR);
        let mut panels = vec![0.0; panels_count * steps * MR];
        for (o, row) in weight.chunks_exact(depth.max(1)).enumerate().take(out_channels) {
            let panel = &mut panels[(o / MR) * steps * MR..][..steps * MR];
            let values = row.iter().enumerate().filter(|&(k, _)| kept(k)).map(|(_, &v)| v);
            for (step, v) in values.enumerate() {
                panel[step * MR + o % MR] = v;
            }
        }
        let mut padded_bias = vec![0.0; panels_count * MR];
        if let Some(b) = bias {
            padded_bias[..out_channels].copy_from_slice(b);
        }
        Ok(Self { geometry: g, out_channels, panels, bias: padded_bias, offsets, relu, tile: F32Kernels::best().conv_tile })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The name of the tile kernel this conv runs, e.g. `avx512_conv_f32_8x32` (chosen when it was
    /// built, from [`F32Kernels::best`]).
    pub fn tile_kernel(&self) -> &'static str {
        self.tile.name
    }

    /// The input geometry.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// `out = relu?(conv(x) + bias)`: one `[C, H, W]` image in, `[O, OH, OW]` out, with the fastest
    /// tile kernel the CPU runs. [`Parallelism::AllCores`] splits a large conv over the threads of
    /// [`Team::global`]: one band of output rows each (a thread pads and reads only the image rows
    /// its band needs, so little data crosses between cores), or groups of output channels when the
    /// map has fewer rows than threads.
    pub fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32, parallelism: Parallelism) -> Result<(), KernelError> {
        self.run(self.tile, x, out, scratch, parallelism, false)
    }

    /// `out = relu?(out + conv(x) + bias)`: [`Self::forward`] adding into what `out` holds (a
    /// training step's input gradient, which other consumers of the input may have started).
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvF32, ConvGeometry, ConvScratchF32, Parallelism};
    /// let g = ConvGeometry::new(1, 1, 2, 1, 1, 0)?;
    /// let conv = ConvF32::new(g, &[2.0], 1, None, false)?;
    /// let mut out = [10.0, 20.0];
    /// conv.forward_accumulate(&[1.0, 2.0], &mut out, &mut ConvScratchF32::default(), Parallelism::Sequential)?;
    /// assert_eq!(out, [12.0, 24.0]);
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn forward_accumulate(&self, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32, parallelism: Parallelism) -> Result<(), KernelError> {
        self.run(self.tile, x, out, scratch, parallelism, true)
    }

    /// `out = relu?(out + conv(x) + bias)` with the ReLU given here instead of the conv's own: the
    /// add that ends a residual block fused into the conv that ends it (`out` holds the skip).
    pub fn forward_add(&self, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32, parallelism: Parallelism, relu: bool) -> Result<(), KernelError> {
        self.run_with(self.tile, x, out, scratch, parallelism, (true, relu))
    }

    /// [`Self::forward`] on the portable tile kernel `generic_conv_f32_8x16` (same tiling and order of
    /// additions per output).
    pub fn forward_generic(&self, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32) -> Result<(), KernelError> {
        self.run(F32Kernels::generic().conv_tile, x, out, scratch, Parallelism::Sequential, false)
    }

    pub(crate) fn run(&self, tile: ConvTile, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32, parallelism: Parallelism, accumulate: bool) -> Result<(), KernelError> {
        self.run_with(tile, x, out, scratch, parallelism, (accumulate, self.relu))
    }

    /// [`Self::run`] with `(accumulate, relu)` given.
    pub(crate) fn run_with(&self, tile: ConvTile, x: &[f32], out: &mut [f32], scratch: &mut ConvScratchF32, parallelism: Parallelism, epilogue: (bool, bool)) -> Result<(), KernelError> {
        let g = &self.geometry;
        let plane = g.out_len();
        self.check_buffers(x.len(), out.len())?;
        if self.out_channels == 0 || plane == 0 {
            return Ok(());
        }
        let (panels, oh) = (self.out_channels.div_ceil(MR), g.out_height());
        let out = OutPtr::new(out);
        let team = Team::global();
        let threads = team.threads();
        let macs = self.out_channels * self.offsets.len() * plane;
        // Bands of output rows: each thread pads and reads only its rows of the image (plus the
        // kernel's overlap) and writes only its rows of every output plane, so little crosses
        // between cores. Small maps split the output channels instead: bands of a few rows hold
        // fewer wide positions than a column tile, so every thread would stream all the weights
        // for a tile it fills only in part (ResNet-18's 7×7 maps: no faster on two threads than
        // on one).
        let band_positions = (oh / threads.max(1)) * g.padded_width();
        let by_rows = oh >= threads && band_positions >= MIN_BAND_TILES * tile.columns;
        let least = if by_rows { PARALLEL_BAND_MACS } else { PARALLEL_MACS };
        if parallelism == Parallelism::Sequential || threads < 2 || macs < least {
            let task = Task { panels: 0..panels, rows: 0..oh };
            self.task(tile, x, task, &mut scratch.padded, &out, epilogue);
            return Ok(());
        }
        let parts = if by_rows { threads } else { threads.min(panels) };
        team.run(parts, &|range| {
            let mut padded = TASK_PADDED.with(Cell::take);
            for i in range {
                let share = |n: usize| i * n / parts..(i + 1) * n / parts;
                let task = if by_rows { Task { panels: 0..panels, rows: share(oh) } } else { Task { panels: share(panels), rows: 0..oh } };
                self.task(tile, x, task, &mut padded, &out, epilogue);
            }
            TASK_PADDED.with(|cell| cell.set(padded));
        });
        Ok(())
    }

    /// An error unless the image holds `C·H·W` values and the output `O·OH·OW`.
    fn check_buffers(&self, input: usize, output: usize) -> Result<(), KernelError> {
        let g = &self.geometry;
        let expected_output = self.out_channels * g.out_len();
        if input == g.image_len() && output == expected_output {
            return Ok(());
        }
        Err(KernelError::ConvBuffers {
            input,
            weight: self.out_channels * g.col_rows(),
            output,
            expected_input: g.image_len(),
            expected_weight: self.out_channels * g.col_rows(),
            expected_output,
        })
    }

    /// Output rows `rows` of every output channel, on the calling thread, into `out` (the whole
    /// `[O, OH, OW]` output; its other rows are not touched). Only the image rows the band reads
    /// need to hold data (`rows` widened by the kernel, less the padding). The fp32 plan's band
    /// schedule runs several layers this way on each thread; every output equals [`Self::forward`]'s
    /// bit for bit. With `add = Some(relu)`, [`Self::forward_add`]'s on those rows.
    ///
    /// # Safety
    /// No other thread may reach rows `rows` of `out` while this runs.
    pub(crate) unsafe fn forward_rows(&self, x: &[f32], out: &OutPtr<'_>, rows: Range<usize>, padded: &mut Vec<f32>, add: Option<bool>) -> Result<(), KernelError> {
        self.check_buffers(x.len(), out.len())?;
        assert!(rows.start <= rows.end && rows.end <= self.geometry.out_height(), "the band {rows:?} lies inside the output");
        if self.out_channels == 0 || rows.is_empty() || self.geometry.out_width() == 0 {
            return Ok(());
        }
        let epilogue = add.map_or((false, self.relu), |relu| (true, relu));
        self.task(self.tile, x, Task { panels: 0..self.out_channels.div_ceil(MR), rows }, padded, out, epilogue);
        Ok(())
    }

    /// Runs one task: pads the image rows it reads into `padded`, then runs its panels (in blocks
    /// whose weights fit [`PANEL_BLOCK_BYTES`]) over its rows.
    fn task(&self, tile: ConvTile, x: &[f32], task: Task, padded: &mut Vec<f32>, out: &OutPtr<'_>, epilogue: (bool, bool)) {
        let g = &self.geometry;
        let (ow, kk) = (g.out_width(), g.kernel());
        let image = if g.padding() == 0 {
            x
        } else {
            pad_rows(x, (g.height(), g.width()), g.padding(), task.rows.start..task.rows.end + kk - 1, 0.0, 0, padded);
            &padded[..]
        };
        // SAFETY: the tasks of one run cover disjoint rows or disjoint output channels, and this
        // task touches only its own rows of its own panels' channels.
        let mut view = unsafe { out.view(g.out_len(), task.rows.start * ow..task.rows.end * ow) };
        let panel_len = self.offsets.len() * MR;
        let per_block = (PANEL_BLOCK_BYTES / (4 * panel_len).max(1)).max(1);
        for first in task.panels.clone().step_by(per_block) {
            let panels = first..(first + per_block).min(task.panels.end);
            self.panels_times_image(tile, panels, task.rows.clone(), image, &mut view, epilogue);
        }
    }

    /// Panels `panels` over the output rows `rows`, every column tile, into `out` (adding to what
    /// it holds if `accumulate`, then the ReLU if `relu`).
    fn panels_times_image(&self, kernel: ConvTile, panels: Range<usize>, rows: Range<usize>, padded: &[f32], out: &mut OutView<'_>, (accumulate, relu): (bool, bool)) {
        let g = &self.geometry;
        let (ow, wp) = (g.out_width(), g.padded_width());
        let depth = self.offsets.len();
        let nr = kernel.columns;
        // Wide positions of the rows: from the first row's start to the last row's last output.
        let (q_start, q_end) = (rows.start * wp, (rows.end - 1) * wp + ow);
        let mut segments = [Segment::default(); MAX_SEGMENTS];
        // Deep convs sum in blocks of at most DEPTH_BLOCK steps, every panel sweeping over a tile's
        // runs for one block; partial sums wait in `out`.
        let blocks = depth.div_ceil(DEPTH_BLOCK);
        let step = depth.div_ceil(blocks);
        for k0 in (0..depth).step_by(step) {
            let k1 = (k0 + step).min(depth);
            for q0 in (q_start..q_end).step_by(nr) {
                let cols = nr.min(q_end - q0);
                let used = tile_segments(q0, cols, (wp, ow), rows.start * ow, &mut segments);
                for p in panels.clone() {
                    let tile = Tile {
                        panel: &self.panels[p * depth * MR..][k0 * MR..k1 * MR],
                        bias: self.bias[p * MR..][..MR].try_into().expect("bias is padded to whole panels"),
                        image: &padded[q0..],
                        offsets: &self.offsets[k0..k1],
                        cols,
                        segments: &segments[..used],
                        relu,
                        first: k0 == 0 && !accumulate,
                        last: k1 == depth,
                        channel: p * MR,
                        rows: (self.out_channels - p * MR).min(MR),
                    };
                    (kernel.run)(&tile, out);
                }
            }
        }
    }
}

thread_local! {
    /// A team thread's padded image rows for the tasks of parallel runs (sequential runs use the
    /// caller's [`ConvScratchF32`]). Taken and put back, so a re-entrant call gets a fresh one.
    static TASK_PADDED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A share of one run: output rows `rows` of the output channels of panels `panels`.
#[derive(Debug, Clone)]
struct Task {
    panels: Range<usize>,
    rows: Range<usize>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::{reference_gemm_f32, reference_im2col_f32, Accumulate, MatMut, MatRef};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// im2col + the plain GEMM + bias + ReLU, in f64 sums (the reference of every fp32 conv kernel).
    pub(crate) fn reference(g: ConvGeometry, x: &[f32], w: &[f32], o: usize, bias: &[f32], relu: bool) -> Vec<f32> {
        let mut col = vec![0.0; g.col_len()];
        reference_im2col_f32(x, &g, &mut col).unwrap();
        let l = g.out_len();
        let mut out = vec![0.0; o * l];
        let dst = MatMut::new(&mut out, o, l, l, 1).unwrap();
        reference_gemm_f32(dst, MatRef::row_major(w, o, g.col_rows()).unwrap(), MatRef::row_major(&col, g.col_rows(), l).unwrap(), Accumulate::Overwrite).unwrap();
        for (plane, &b) in out.chunks_exact_mut(l).zip(bias) {
            for v in plane {
                *v += b;
                if relu {
                    *v = v.max(0.0);
                }
            }
        }
        out
    }

    fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn close(a: &[f32], b: &[f32], depth: usize) {
        assert_eq!(a.len(), b.len());
        let tol = 1e-5 * depth as f32;
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "output {i}: {x} vs {y}");
        }
    }

    #[test]
    fn every_kernel_equals_the_reference() {
        let mut rng = StdRng::seed_from_u64(7);
        // (C, H, W, K, P, O): paddings 0/1/2, kernels 1/2/3/5, one channel, partial panels and tiles,
        // rows narrower and wider than a tile, non-square images, more than one depth block.
        let shapes = [
            (1, 28, 28, 3, 1, 32),
            (3, 9, 7, 3, 1, 5),
            (4, 5, 13, 5, 2, 9),
            (2, 4, 4, 1, 0, 8),
            (5, 6, 3, 2, 0, 17),
            (2, 1, 40, 1, 0, 3),
            (8, 14, 14, 3, 1, 16),
            (1, 3, 3, 3, 2, 1),
            (60, 5, 6, 3, 1, 9), // 540 depth steps: two depth blocks
        ];
        for (c, h, w, k, p, o) in shapes {
            let g = ConvGeometry::new(c, h, w, k, 1, p).unwrap();
            let (x, wt, b) = (random(g.image_len(), &mut rng), random(o * g.col_rows(), &mut rng), random(o, &mut rng));
            for relu in [false, true] {
                let expected = reference(g, &x, &wt, o, &b, relu);
                let conv = ConvF32::new(g, &wt, o, Some(&b), relu).unwrap();
                let mut scratch = ConvScratchF32::default();
                for table in F32Kernels::available() {
                    let isa = table.conv_tile;
                    for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                        let mut out = vec![f32::NAN; o * g.out_len()];
                        conv.run(isa, &x, &mut out, &mut scratch, parallelism, false).unwrap();
                        close(&out, &expected, g.col_rows());
                        // Accumulating adds into the start values (then bias, then ReLU of the total).
                        let start = random(o * g.out_len(), &mut rng);
                        let plain = reference(g, &x, &wt, o, &b, false);
                        let want: Vec<f32> = start.iter().zip(&plain).map(|(s, v)| if relu { (s + v).max(0.0) } else { s + v }).collect();
                        let mut out = start.clone();
                        conv.run(isa, &x, &mut out, &mut scratch, parallelism, true).unwrap();
                        close(&out, &want, g.col_rows());
                        // The fused add of a residual block: the add's ReLU replaces the conv's.
                        let want: Vec<f32> = start.iter().zip(&plain).map(|(s, v)| if relu { s + v } else { (s + v).max(0.0) }).collect();
                        let mut out = start.clone();
                        conv.run_with(isa, &x, &mut out, &mut scratch, parallelism, (true, !relu)).unwrap();
                        close(&out, &want, g.col_rows());
                    }
                }
            }
        }
    }

    #[test]
    fn large_convs_split_over_threads_give_the_sequential_result() {
        let mut rng = StdRng::seed_from_u64(3);
        // Bands of rows (20 rows), and output channels for a map of one row (fewer rows than threads).
        for (c, h, w, o) in [(64, 20, 20, 80), (64, 1, 600, 70)] {
            let g = ConvGeometry::new(c, h, w, 3, 1, 1).unwrap(); // 18–24 M multiply-adds
            let (x, wt, b) = (random(g.image_len(), &mut rng), random(o * g.col_rows(), &mut rng), random(o, &mut rng));
            let conv = ConvF32::new(g, &wt, o, Some(&b), true).unwrap();
            let (mut seq, mut par) = (vec![0.0; o * g.out_len()], vec![1.0; o * g.out_len()]);
            let mut scratch = ConvScratchF32::default();
            conv.forward(&x, &mut seq, &mut scratch, Parallelism::Sequential).unwrap();
            conv.forward(&x, &mut par, &mut scratch, Parallelism::AllCores).unwrap();
            assert_eq!(seq, par, "{c}×{h}×{w} → {o}");
            close(&seq, &reference(g, &x, &wt, o, &b, true), g.col_rows());
            let start = random(o * g.out_len(), &mut rng);
            let (mut seq, mut par) = (start.clone(), start);
            conv.forward_accumulate(&x, &mut seq, &mut scratch, Parallelism::Sequential).unwrap();
            conv.forward_accumulate(&x, &mut par, &mut scratch, Parallelism::AllCores).unwrap();
            assert_eq!(seq, par, "{c}×{h}×{w} → {o}, accumulating");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let g = ConvGeometry::new(2, 5, 5, 3, 2, 1).unwrap();
        assert!(matches!(ConvF32::new(g, &[0.0; 36], 2, None, false), Err(KernelError::StrideNotOne { stride: 2 })));
        let g = ConvGeometry::new(2, 5, 5, 3, 1, 1).unwrap();
        assert!(matches!(ConvF32::new(g, &[0.0; 35], 2, None, false), Err(KernelError::OperandLength { operand: "weight", .. })));
        assert!(matches!(ConvF32::new(g, &[0.0; 36], 2, Some(&[0.0]), false), Err(KernelError::OperandLength { operand: "bias", .. })));
        let conv = ConvF32::new(g, &[0.0; 36], 2, None, false).unwrap();
        let mut out = vec![0.0; 50];
        let err = conv.forward(&[0.0; 49], &mut out, &mut ConvScratchF32::default(), Parallelism::Sequential);
        assert!(matches!(err, Err(KernelError::ConvBuffers { input: 49, expected_input: 50, .. })));
        let err = conv.forward(&[0.0; 50], &mut out[..49], &mut ConvScratchF32::default(), Parallelism::Sequential);
        assert!(matches!(err, Err(KernelError::ConvBuffers { output: 49, expected_output: 50, .. })));
    }
}
