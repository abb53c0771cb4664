//! The CPU loops of conv2d: per image, images spread over the rayon pool.
//!
//! With at least as many images as threads, stride-1 convs with a real window (nearly all) run the
//! direct kernel of the inference plans ([`ConvF32`]: the padded image read in place, no patch
//! matrix) for the forward and for the input gradient (a transposed conv, below, added into `dx`
//! with [`ConvF32::forward_accumulate`]). With fewer images (batch-1 inference) the forward of most
//! stride-1 convs runs as the fp32 plan would run it, split over the cores by output channels
//! (`split_conv.rs`). Everything else, and the weight gradient, is im2col + GEMM:
//!
//! Layout choices (NCHW, `L = OH·OW` output positions, `R = C·K·K` receptive-field length):
//! every product puts `L`, the largest dimension, as the contiguous row dimension `m` of the
//! destination, which the packed GEMM prefers:
//! - forward:          `out_n (L × O, col-major) = col_nᵀ (L × R) · Wᵀ (R × O)`
//! - input gradient:   for stride 1 (and `P < K`, at least `MIN_TRANSPOSED_CHANNELS` inputs) a
//!   forward convolution of `g_n` with the flipped, transposed weight, added into `dx` (no
//!   scatter); otherwise `dcol_n (L × R, col-major) = g_nᵀ (L × O) · W (O × R)`, then col2im
//! - weight gradient:  `dWᵀ (R × O, col-major) += col_n (R × L) · g_nᵀ (L × O)`
//!
//! Blocking: the columns of one image are built a block of output rows at a time (about
//! `COL_BLOCK_FLOATS` floats), so im2col writes and the GEMM reads stay in L2; the scratch buffers
//! are thread-local and reused across calls (no allocation or page faults on the hot path).
//!
//! Threading: with at least as many images as threads, each rayon task runs whole images with a
//! single-threaded GEMM and its own scratch (column buffer, weight-gradient accumulator, reduced
//! at the end); with fewer images (batch 1) the split convs or the GEMMs themselves run on every
//! core.

use std::cell::Cell;
use std::ops::Range;

use rayon::prelude::*;

use super::split_conv::SplitConv;
use crate::kernels::{
    col2im_rows, gemm, im2col_rows, Accumulate, ConvF32, ConvGeometry, ConvScratchF32, KernelError,
    MatMut, MatRef, Parallelism,
};

/// Target size of one block of columns: 48 Ki floats = 192 KiB, half of Zen 3's L2 (the rest
/// holds the packed weights and the destination block).
const COL_BLOCK_FLOATS: usize = 48 * 1024;

thread_local! {
    /// Per-thread scratch (column block, column-gradient block), taken and put back by
    /// [`with_scratch`] so a re-entrant call just gets fresh buffers.
    static SCRATCH: Cell<(Vec<f32>, Vec<f32>)> = const { Cell::new((Vec::new(), Vec::new())) };
    /// Per-thread padded image of the direct kernel, taken and put back like [`SCRATCH`].
    static PADDED: Cell<Option<ConvScratchF32>> = const { Cell::new(None) };
}

/// Runs `conv` on one image with this thread's padded-image scratch, overwriting or adding into `out`.
pub(super) fn direct_image(conv: &ConvF32, x: &[f32], out: &mut [f32], accumulate: Accumulate) -> Result<(), KernelError> {
    let mut scratch = PADDED.with(Cell::take).unwrap_or_default();
    let result = match accumulate {
        Accumulate::Overwrite => conv.forward(x, out, &mut scratch, Parallelism::Sequential),
        Accumulate::Add => conv.forward_accumulate(x, out, &mut scratch, Parallelism::Sequential),
    };
    PADDED.with(|cell| cell.set(Some(scratch)));
    result
}

/// The direct kernel for a batch whose images run in parallel (one image per task, each on one
/// core): stride-1 convs with a real window read the padded image in place (no patch matrix, no
/// packing). `None` where im2col + GEMM runs instead (strided, pointwise, or too few images to
/// keep every core busy, where the GEMM splits one image over the cores).
fn direct_conv(g: &ConvGeometry, w: &[f32], out_channels: usize, bias: Option<&[f32]>, image_parallel: bool) -> Option<ConvF32> {
    if !image_parallel || g.stride() != 1 || g.is_pointwise() {
        return None;
    }
    ConvF32::new(*g, w, out_channels, bias, false).ok()
}

fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
    let (mut col, mut dcol) = SCRATCH.with(Cell::take);
    let result = f(&mut col, &mut dcol);
    SCRATCH.with(|cell| cell.set((col, dcol)));
    result
}

/// Blocks of output rows covering the image. A parallel GEMM (batch smaller than the thread
/// count) gets the whole image so each product is large enough to split.
fn row_blocks(g: &ConvGeometry, parallelism: Parallelism) -> impl Iterator<Item = Range<usize>> {
    let oh = g.out_height();
    let rows = match parallelism {
        Parallelism::AllCores => oh,
        Parallelism::Sequential => {
            (COL_BLOCK_FLOATS / (g.col_rows() * g.out_width()).max(1)).clamp(1, oh.max(1))
        }
    };
    (0..oh)
        .step_by(rows.max(1))
        .map(move |start| start..(start + rows).min(oh))
}

/// Sizes of one batched convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvProblem {
    /// Images in the batch.
    pub batch: usize,
    /// Per-image geometry (input channels, size, kernel, stride, padding).
    pub geometry: ConvGeometry,
    /// Output channels `O`.
    pub out_channels: usize,
}

impl ConvProblem {
    /// Elements of one input image, `C·H·W`.
    pub fn in_image_len(&self) -> usize {
        self.geometry.image_len()
    }
    /// Elements of one output image, `O·OH·OW`.
    pub fn out_image_len(&self) -> usize {
        self.out_channels * self.geometry.out_len()
    }
    /// Elements of the weight, `O·C·K·K`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.geometry.col_rows()
    }

    /// Run images in parallel (each GEMM sequential) unless there are fewer images than threads.
    fn image_parallel(&self) -> bool {
        let threads = rayon::current_num_threads();
        threads > 1 && self.batch >= threads
    }

    fn check(
        &self,
        x: usize,
        w: usize,
        bias: Option<usize>,
        out: usize,
    ) -> Result<(), KernelError> {
        let expected_bias = bias.map(|_| self.out_channels);
        if x != self.batch * self.in_image_len()
            || w != self.weight_len()
            || bias != expected_bias
            || out != self.batch * self.out_image_len()
        {
            return Err(KernelError::ConvBuffers {
                input: x,
                weight: w,
                output: out,
                expected_input: self.batch * self.in_image_len(),
                expected_weight: self.weight_len(),
                expected_output: self.batch * self.out_image_len(),
            });
        }
        Ok(())
    }
}

fn forward_image(
    p: &ConvProblem,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    parallelism: Parallelism,
) -> Result<(), KernelError> {
    let l = p.geometry.out_len();
    let accumulate = match bias {
        Some(b) => {
            for (plane, &bo) in out.chunks_exact_mut(l).zip(b) {
                plane.fill(bo);
            }
            Accumulate::Add
        }
        None => Accumulate::Overwrite,
    };
    conv_image(
        &p.geometry,
        p.out_channels,
        x,
        w,
        out,
        accumulate,
        parallelism,
    )
}

/// `out (=|+=) conv(x, w)` for one image of geometry `g` and `out_channels` filters.
fn conv_image(
    g: &ConvGeometry,
    out_channels: usize,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    accumulate: Accumulate,
    parallelism: Parallelism,
) -> Result<(), KernelError> {
    let (l, r, o) = (g.out_len(), g.col_rows(), out_channels);
    let w_t = MatRef::row_major(w, o, r)?.t();
    if g.is_pointwise() {
        // The image is its own column matrix.
        let x_t = MatRef::row_major(x, r, l)?.t();
        return gemm(
            MatMut::col_major(out, l, o)?,
            x_t,
            w_t,
            accumulate,
            parallelism,
        );
    }
    with_scratch(|col, _| {
        for rows in row_blocks(g, parallelism) {
            let (first, block) = (rows.start * g.out_width(), rows.len() * g.out_width());
            col.resize(r * block, 0.0);
            im2col_rows(x, g, rows, col)?;
            gemm(
                MatMut::new(&mut out[first..], block, o, 1, l)?,
                MatRef::row_major(col, r, block)?.t(),
                w_t,
                accumulate,
                parallelism,
            )?;
        }
        Ok(())
    })
}

/// Fewest input channels for which the transposed convolution beats col2im: its GEMM has one
/// column per input channel, so a 1-channel input (a first layer) would be a matrix-vector product.
const MIN_TRANSPOSED_CHANNELS: usize = 8;

/// For stride 1 with `P ≤ K − 1`, the input gradient is itself a convolution: the output
/// gradient convolved with the spatially flipped, channel-transposed weight, padding `K − 1 − P`.
/// Returns that geometry and weight (`C × O·K·K`); `None` where the identity does not hold.
fn transposed_conv(p: &ConvProblem, w: &[f32]) -> Option<(ConvGeometry, Vec<f32>)> {
    let g = &p.geometry;
    let (c, o, k) = (g.channels(), p.out_channels, g.kernel());
    if g.stride() != 1 || g.padding() >= k || g.is_pointwise() || c < MIN_TRANSPOSED_CHANNELS {
        return None;
    }
    let gt = ConvGeometry::new(o, g.out_height(), g.out_width(), k, 1, k - 1 - g.padding()).ok()?;
    if gt.out_height() != g.height() || gt.out_width() != g.width() {
        return None;
    }
    let mut flipped = vec![0.0f32; w.len()];
    for oc in 0..o {
        for ic in 0..c {
            for ki in 0..k {
                for kj in 0..k {
                    flipped[((ic * o + oc) * k + (k - 1 - ki)) * k + (k - 1 - kj)] =
                        w[((oc * c + ic) * k + ki) * k + kj];
                }
            }
        }
    }
    Some((gt, flipped))
}

/// `out = conv(x, w) + bias` for the whole batch (`out` overwritten).
pub fn forward(
    p: &ConvProblem,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    p.check(x.len(), w.len(), bias.map(<[f32]>::len), out.len())?;
    if p.batch == 0 || p.out_image_len() == 0 {
        return Ok(());
    }
    let (in_len, out_len) = (p.in_image_len().max(1), p.out_image_len());
    if let Some(conv) = direct_conv(&p.geometry, w, p.out_channels, bias, p.image_parallel()) {
        out.par_chunks_mut(out_len)
            .zip(x.par_chunks(in_len))
            .try_for_each(|(out_n, x_n)| direct_image(&conv, x_n, out_n, Accumulate::Overwrite))
    } else if let Some(convs) = SplitConv::new(p.image_parallel(), &p.geometry, w, p.out_channels, bias) {
        for (out_n, x_n) in out.chunks_exact_mut(out_len).zip(x.chunks(in_len)) {
            convs.forward(x_n, out_n)?;
        }
        Ok(())
    } else if p.image_parallel() {
        out.par_chunks_mut(out_len)
            .zip(x.par_chunks(in_len))
            .try_for_each(|(out_n, x_n)| {
                forward_image(p, x_n, w, bias, out_n, Parallelism::Sequential)
            })
    } else {
        for (out_n, x_n) in out.chunks_exact_mut(out_len).zip(x.chunks(in_len)) {
            forward_image(p, x_n, w, bias, out_n, Parallelism::AllCores)?;
        }
        Ok(())
    }
}

/// Per-task weight/bias gradient accumulators of the backward pass (summed over tasks at the end).
struct BackwardScratch {
    dw_t: Vec<f32>,
    db: Vec<f32>,
}

impl BackwardScratch {
    fn new(p: &ConvProblem) -> Self {
        Self {
            dw_t: vec![0.0; p.weight_len()],
            db: vec![0.0; p.out_channels],
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self.dw_t.iter_mut().zip(&other.dw_t) {
            *a += b;
        }
        for (a, b) in self.db.iter_mut().zip(&other.db) {
            *a += b;
        }
        self
    }
}

/// How a backward pass gets the input gradient: as a convolution of the output gradient (run
/// directly or through im2col + GEMM), or through col2im.
struct Transposed {
    geometry: ConvGeometry,
    flipped: Vec<f32>,
    direct: Option<ConvF32>,
}

#[allow(clippy::too_many_arguments)]
fn backward_image(
    p: &ConvProblem,
    x: &[f32],
    w: &[f32],
    transposed: Option<&Transposed>,
    g_out: &[f32],
    g_in: &mut [f32],
    s: &mut BackwardScratch,
    parallelism: Parallelism,
) -> Result<(), KernelError> {
    let g = &p.geometry;
    let (l, r, o) = (g.out_len(), g.col_rows(), p.out_channels);
    // Bias: sum of the output gradient over positions.
    for (acc, plane) in s.db.iter_mut().zip(g_out.chunks_exact(l)) {
        *acc += plane.iter().sum::<f32>();
    }
    let w_mat = MatRef::row_major(w, o, r)?;
    if g.is_pointwise() {
        let g_t = MatRef::row_major(g_out, o, l)?.t();
        gemm(
            MatMut::col_major(&mut s.dw_t, r, o)?,
            MatRef::row_major(x, r, l)?,
            g_t,
            Accumulate::Add,
            parallelism,
        )?;
        return gemm(
            MatMut::col_major(g_in, l, r)?,
            g_t,
            w_mat,
            Accumulate::Add,
            parallelism,
        );
    }
    with_scratch(|col, dcol| {
        for rows in row_blocks(g, parallelism) {
            let (first, block) = (rows.start * g.out_width(), rows.len() * g.out_width());
            // Output-gradient block seen as L_b × O (positions contiguous).
            let g_t = MatRef::new(&g_out[first..], block, o, 1, l)?;
            // Weight: dWᵀ += col · gᵀ.
            col.resize(r * block, 0.0);
            im2col_rows(x, g, rows.clone(), col)?;
            gemm(
                MatMut::col_major(&mut s.dw_t, r, o)?,
                MatRef::row_major(col, r, block)?,
                g_t,
                Accumulate::Add,
                parallelism,
            )?;
            if transposed.is_none() {
                // Input: dcol = gᵀ · W, as L_b × R column-major, folded back onto the image.
                dcol.resize(r * block, 0.0);
                gemm(
                    MatMut::col_major(dcol, block, r)?,
                    g_t,
                    w_mat,
                    Accumulate::Overwrite,
                    parallelism,
                )?;
                col2im_rows(dcol, g, rows, g_in)?;
            }
        }
        Ok(())
    })?;
    match transposed {
        // Input: a forward convolution of the output gradient, added into g_in.
        Some(Transposed { direct: Some(conv), .. }) => direct_image(conv, g_out, g_in, Accumulate::Add),
        Some(t) => conv_image(
            &t.geometry,
            g.channels(),
            g_out,
            &t.flipped,
            g_in,
            Accumulate::Add,
            parallelism,
        ),
        None => Ok(()),
    }
}

/// Gradients of a batch: adds `∂loss/∂x` into `g_in` and returns `(∂loss/∂W, ∂loss/∂bias)`,
/// the weight gradient in the weight's own `O × C × K × K` layout.
pub fn backward(
    p: &ConvProblem,
    x: &[f32],
    w: &[f32],
    g_out: &[f32],
    g_in: &mut [f32],
) -> Result<(Vec<f32>, Vec<f32>), KernelError> {
    p.check(x.len(), w.len(), None, g_out.len())?;
    p.check(g_in.len(), w.len(), None, g_out.len())?;
    let transposed = transposed_conv(p, w).map(|(geometry, flipped)| {
        let direct = direct_conv(&geometry, &flipped, p.geometry.channels(), None, p.image_parallel());
        Transposed { geometry, flipped, direct }
    });
    let (in_len, out_len) = (p.in_image_len().max(1), p.out_image_len().max(1));
    // One image's backward, adding its weight and bias gradients into `s`.
    let image = |x_n: &[f32], g_n: &[f32], g_in_n: &mut [f32], s: &mut BackwardScratch, parallelism| {
        backward_image(p, x_n, w, transposed.as_ref(), g_n, g_in_n, s, parallelism)
    };
    let total = if p.batch == 0 || p.out_image_len() == 0 {
        BackwardScratch::new(p)
    } else if p.image_parallel() {
        g_in.par_chunks_mut(in_len)
            .zip(x.par_chunks(in_len))
            .zip(g_out.par_chunks(out_len))
            .try_fold(
                || BackwardScratch::new(p),
                |mut s, ((g_in_n, x_n), g_n)| {
                    image(x_n, g_n, g_in_n, &mut s, Parallelism::Sequential)?;
                    Ok::<_, KernelError>(s)
                },
            )
            .try_reduce(|| BackwardScratch::new(p), |a, b| Ok(a.merge(b)))?
    } else {
        let mut s = BackwardScratch::new(p);
        for ((g_in_n, x_n), g_n) in g_in
            .chunks_exact_mut(in_len)
            .zip(x.chunks(in_len))
            .zip(g_out.chunks(out_len))
        {
            image(x_n, g_n, g_in_n, &mut s, Parallelism::AllCores)?;
        }
        s
    };
    // dWᵀ is R × O column-major, i.e. O × R row-major: already the weight's layout.
    Ok((total.dw_t, total.db))
}
