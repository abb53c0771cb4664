//! The direct fp32 conv's tiles on AVX-512F (`8 × 32`) and AVX2+FMA (`8 × 8`), the fast twins of
//! [`generic_conv_f32_8x16`](crate::kernels::generic::conv_f32::generic_conv_f32_8x16).

use crate::kernels::conv_tile::{Tile, MR};
use crate::kernels::isa::Isa;
use crate::kernels::out_ptr::OutView;

/// The `8 × 32` tile on AVX-512F.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx512`].
pub(crate) fn avx512_conv_f32_8x32(t: &Tile<'_>, out: &mut OutView<'_>) {
    assert!(Isa::Avx512.on_cpu(), "avx512_conv_f32_8x32 needs AVX-512");
    // SAFETY: the CPU has AVX-512 F (checked just above).
    unsafe { avx512(t, out) }
}

/// The `8 × 8` tile on AVX2 and FMA.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx2`].
pub(crate) fn avx2_conv_f32_8x8(t: &Tile<'_>, out: &mut OutView<'_>) {
    assert!(Isa::Avx2.on_cpu(), "avx2_conv_f32_8x8 needs AVX2 and FMA");
    // SAFETY: the CPU has AVX2 and FMA (checked just above).
    unsafe { avx2(t, out) }
}

/// AVX-512F: `8 × 32` accumulators in 16 registers (two per output channel); the tile's runs
/// loaded with masks past `cols`. (An `8 × 48` tile, 24 accumulators, measured a third slower.)
#[target_feature(enable = "avx512f")]
fn avx512(t: &Tile<'_>, out: &mut OutView<'_>) {
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
#[target_feature(enable = "avx2,fma")]
fn avx2(t: &Tile<'_>, out: &mut OutView<'_>) {
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
