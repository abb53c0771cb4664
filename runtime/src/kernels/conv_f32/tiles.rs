//! The direct conv's tile kernels: a block of depth steps of one weight panel ([`MR`] output
//! channels) against up to 32 wide positions read in place from the padded image, stored through
//! the rows' segments. AVX-512F (`8 × 32`), AVX2+FMA (`8 × 8`) and the plain twin the tests compare
//! them with, with the same order of additions per output.

use super::MR;
use crate::kernels::out_ptr::OutView;

/// Where the lanes of one column tile go: for each output row the tile touches, the lanes in that
/// row (a bit mask) and the output index of lane 0 if it were in that row.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Segment {
    pub(super) mask: u64,
    pub(super) shift: isize,
}

/// Segments of a tile: each holds at least one of its at most 32 columns.
pub(super) const MAX_SEGMENTS: usize = 32;

/// One tile's operands: a block of depth steps of a weight panel against `cols` wide positions
/// starting at `image[0]`.
pub(super) struct Tile<'a> {
    /// The block's depth steps of the panel.
    pub(super) panel: &'a [f32],
    pub(super) bias: &'a [f32; MR],
    /// The padded image from the tile's first wide position on.
    pub(super) image: &'a [f32],
    /// The block's depth steps' offsets.
    pub(super) offsets: &'a [usize],
    pub(super) cols: usize,
    pub(super) segments: &'a [Segment],
    pub(super) relu: bool,
    /// The block starts the sum (else it continues the partial sums stored in `out`).
    pub(super) first: bool,
    /// The block ends the sum: add the bias, apply the ReLU.
    pub(super) last: bool,
    /// The panel's first output channel.
    pub(super) channel: usize,
    /// Valid output channels of the panel.
    pub(super) rows: usize,
}

impl Tile<'_> {
    /// The value stored for accumulator `a` of row `r`: a partial sum, or the finished output.
    fn finish(&self, a: f32, r: usize) -> f32 {
        if !self.last {
            return a;
        }
        let v = a + self.bias[r];
        // ReLU keeping NaN, as the model's forward does (PyTorch's semantics).
        if self.relu && v <= 0.0 {
            0.0
        } else {
            v
        }
    }
}

/// Splits the wide positions `q0 .. q0 + cols` by output row; returns how many segments it wrote.
/// A segment's shift maps lane `l` to flat output position `shift + l`, counted from `origin`.
pub(super) fn tile_segments(q0: usize, cols: usize, (wp, ow): (usize, usize), origin: usize, segments: &mut [Segment; MAX_SEGMENTS]) -> usize {
    let mut used = 0;
    for y in q0 / wp..=(q0 + cols - 1) / wp {
        let (start, end) = ((y * wp).max(q0), (y * wp + ow).min(q0 + cols));
        if start >= end {
            continue; // only junk positions of this row
        }
        let mask = (1u64 << (end - q0)) - (1u64 << (start - q0));
        segments[used] = Segment { mask, shift: q0 as isize - (y * (wp - ow)) as isize - origin as isize };
        used += 1;
    }
    used
}

/// The plain twin: the same depth order per output as the SIMD tiles.
pub(super) fn tile_portable(t: &Tile<'_>, out: &mut OutView<'_>) {
    let mut acc = [[0.0f32; 32]; MR];
    if !t.first {
        for (r, acc) in acc.iter_mut().enumerate().take(t.rows) {
            let row = out.channel(t.channel + r);
            for s in t.segments {
                for (lane, a) in acc.iter_mut().enumerate().take(t.cols) {
                    if s.mask >> lane & 1 == 1 {
                        *a = row[(s.shift + lane as isize) as usize];
                    }
                }
            }
        }
    }
    for (k, &off) in t.offsets.iter().enumerate() {
        let run = &t.image[off..][..t.cols];
        let w = &t.panel[k * MR..][..MR];
        for (acc, &w) in acc.iter_mut().zip(w) {
            for (a, &v) in acc.iter_mut().zip(run) {
                *a = w.mul_add(v, *a);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(t.rows) {
        let row = out.channel(t.channel + r);
        for s in t.segments {
            for (lane, &a) in acc.iter().enumerate().take(t.cols) {
                if s.mask >> lane & 1 == 1 {
                    row[(s.shift + lane as isize) as usize] = t.finish(a, r);
                }
            }
        }
    }
}

/// AVX-512F: `8 × 32` accumulators in 16 registers (two per output channel); the tile's runs
/// loaded with masks past `cols`. (An `8 × 48` tile, 24 accumulators, measured a third slower.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn tile_avx512(t: &Tile<'_>, out: &mut OutView<'_>) {
    use std::arch::x86_64::*;
    let all = (1u64 << t.cols) - 1;
    let (m0, m1) = (all as __mmask16, (all >> 16) as __mmask16);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let last = t.offsets.last().copied().unwrap_or(0); // offsets increase with the depth step
    assert!(t.panel.len() >= t.offsets.len() * MR && t.image.len() >= last + t.cols, "tile operands cover the tile");
    if !t.first {
        for (r, acc) in acc.iter_mut().enumerate().take(t.rows) {
            let row = out.channel(t.channel + r);
            for s in t.segments {
                let base = row.as_ptr().wrapping_offset(s.shift);
                // SAFETY: as for the stores below: the segment's lanes are inside the row.
                unsafe {
                    acc[0] = _mm512_mask_loadu_ps(acc[0], s.mask as __mmask16, base);
                    acc[1] = _mm512_mask_loadu_ps(acc[1], (s.mask >> 16) as __mmask16, base.wrapping_add(16));
                }
            }
        }
    }
    // Full tiles load without masks: a masked load costs an extra uop on the FMA ports.
    if t.cols == 32 {
        for (k, &off) in t.offsets.iter().enumerate() {
            // SAFETY: off + 32 <= image.len() (checked above); the panel holds MR weights per step.
            unsafe {
                let run = t.image.as_ptr().add(off);
                fma_rows(&mut acc, t.panel.as_ptr().add(k * MR), _mm512_loadu_ps(run), _mm512_loadu_ps(run.add(16)));
            }
        }
    } else {
        for (k, &off) in t.offsets.iter().enumerate() {
            // SAFETY: lanes past `cols` are masked off (not read), and off + cols <= image.len()
            // (checked above); the panel holds MR weights per depth step.
            unsafe {
                let run = t.image.as_ptr().add(off);
                let (a, b) = (_mm512_maskz_loadu_ps(m0, run), _mm512_maskz_loadu_ps(m1, run.add(16)));
                fma_rows(&mut acc, t.panel.as_ptr().add(k * MR), a, b);
            }
        }
    }
    let zero = _mm512_setzero_ps();
    for (r, acc) in acc.iter().enumerate().take(t.rows) {
        let bias = _mm512_set1_ps(if t.last { t.bias[r] } else { 0.0 });
        let (mut lo, mut hi) = (_mm512_add_ps(acc[0], bias), _mm512_add_ps(acc[1], bias));
        if t.relu && t.last {
            // ReLU keeping NaN (the model's forward does): lanes `<= 0` (ordered) become 0.
            let (lo_cut, hi_cut) = (_mm512_cmp_ps_mask::<_CMP_LE_OQ>(lo, zero), _mm512_cmp_ps_mask::<_CMP_LE_OQ>(hi, zero));
            (lo, hi) = (_mm512_mask_mov_ps(lo, lo_cut, zero), _mm512_mask_mov_ps(hi, hi_cut, zero));
        }
        let row = out.channel(t.channel + r);
        for s in t.segments {
            let base = row.as_mut_ptr().wrapping_offset(s.shift);
            // SAFETY: a segment's lanes l map to row[shift + l] with 0 <= shift + l < plane (they are
            // the valid positions of one output row); masked-off lanes are not written.
            unsafe {
                _mm512_mask_storeu_ps(base, s.mask as __mmask16, lo);
                _mm512_mask_storeu_ps(base.wrapping_add(16), (s.mask >> 16) as __mmask16, hi);
            }
        }
    }
}

/// One depth step of the AVX-512 tile: `acc[r] += w[r] · (a, b)` for the panel's `MR` weights at `w`.
///
/// # Safety
/// `w` must point at `MR` readable `f32`s.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn fma_rows(acc: &mut [[std::arch::x86_64::__m512; 2]; MR], w: *const f32, a: std::arch::x86_64::__m512, b: std::arch::x86_64::__m512) {
    use std::arch::x86_64::*;
    for (r, acc) in acc.iter_mut().enumerate() {
        // SAFETY: r < MR, inside the caller's weights.
        let w = _mm512_set1_ps(unsafe { *w.add(r) });
        acc[0] = _mm512_fmadd_ps(w, a, acc[0]);
        acc[1] = _mm512_fmadd_ps(w, b, acc[1]);
    }
}

/// AVX2+FMA: `8 × 8` accumulators; the last partial run is copied into a zeroed block first.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) fn tile_avx2(t: &Tile<'_>, out: &mut OutView<'_>) {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); MR];
    let last = t.offsets.last().copied().unwrap_or(0); // offsets increase with the depth step
    assert!(t.panel.len() >= t.offsets.len() * MR && t.image.len() >= last + t.cols, "tile operands cover the tile");
    let full = t.cols == 8 && t.image.len() >= last + 8;
    if !t.first {
        for (r, acc) in acc.iter_mut().enumerate().take(t.rows) {
            let mut lanes = [0.0f32; 8];
            let row = out.channel(t.channel + r);
            for s in t.segments {
                for (lane, v) in lanes.iter_mut().enumerate().take(t.cols) {
                    if s.mask >> lane & 1 == 1 {
                        *v = row[(s.shift + lane as isize) as usize];
                    }
                }
            }
            // SAFETY: `lanes` holds 8 values.
            *acc = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
        }
    }
    for (k, &off) in t.offsets.iter().enumerate() {
        // SAFETY: a full tile reads 8 values from off <= last, inside the image (checked); a partial
        // one reads a local copy. The panel holds MR weights per depth step.
        unsafe {
            let a = if full {
                _mm256_loadu_ps(t.image.as_ptr().add(off))
            } else {
                let mut run = [0.0f32; 8];
                run[..t.cols].copy_from_slice(&t.image[off..off + t.cols]);
                _mm256_loadu_ps(run.as_ptr())
            };
            let w = t.panel.as_ptr().add(k * MR);
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(*w.add(r)), a, *acc);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(t.rows) {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *acc) };
        let row = out.channel(t.channel + r);
        for s in t.segments {
            for (lane, &a) in lanes.iter().enumerate().take(t.cols) {
                if s.mask >> lane & 1 == 1 {
                    row[(s.shift + lane as isize) as usize] = t.finish(a, r);
                }
            }
        }
    }
}
