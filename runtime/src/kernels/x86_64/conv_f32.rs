//! The direct fp32 conv's tiles on AVX-512F (`8 × 32`) and AVX2+FMA (`8 × 16`), the fast twins of
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

/// The `8 × 16` tile on AVX2 and FMA.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx2`].
pub(crate) fn avx2_conv_f32_8x16(t: &Tile<'_>, out: &mut OutView<'_>) {
    assert!(Isa::Avx2.on_cpu(), "avx2_conv_f32_8x16 needs AVX2 and FMA");
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

/// `ymm` per row of the AVX2 tile.
const AVX2_VECS: usize = 2;

/// Lanes of the AVX2 tile.
const AVX2_COLUMNS: usize = 8 * AVX2_VECS;

/// Rows per pass of the AVX2 tile.
const AVX2_ROWS: usize = 4;

/// AVX2+FMA: `8 × 16` in two passes of four rows, each `4 × 16` accumulators in 8 registers (2
/// loads of the run and 4 broadcasts per 8 FMAs; the `8 × 8` tile this replaces issued 9 loads per
/// 8 FMAs and stored lane by lane, and ran at about two thirds of this one's rate on an AMD Zen 4; a
/// `4 × 24` pass spilled an accumulator). Partial runs are loaded and partial sums loaded and
/// stored with lane masks, so no lane outside the tile is touched.
#[target_feature(enable = "avx2,fma")]
fn avx2(t: &Tile<'_>, out: &mut OutView<'_>) {
    use std::arch::x86_64::*;
    let last = t.offsets.last().copied().unwrap_or(0); // offsets increase with the depth step
    assert!(t.panel.len() >= t.offsets.len() * MR && t.image.len() >= last + t.cols, "tile operands cover the tile");
    assert!(t.cols <= AVX2_COLUMNS, "an AVX2 tile holds at most {AVX2_COLUMNS} columns");
    let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    // The lanes of `bits` (one per bit, lane `l` of `ymm` `j` bit `8j + l`) as `ymm` masks.
    let masks = |bits: u64| -> [__m256i; AVX2_VECS] {
        std::array::from_fn(|j| {
            let chunk = _mm256_set1_epi32((bits >> (8 * j)) as i32 & 0xff);
            _mm256_cmpeq_epi32(_mm256_and_si256(chunk, lane_bits), lane_bits)
        })
    };
    let valid = masks((1u64 << t.cols) - 1);
    let full = t.cols == AVX2_COLUMNS;
    let zero = _mm256_setzero_ps();
    for pass in 0..MR / AVX2_ROWS {
        let row0 = pass * AVX2_ROWS;
        if row0 >= t.rows {
            break;
        }
        let mut acc = [[zero; AVX2_VECS]; AVX2_ROWS];
        if !t.first {
            for s in t.segments {
                let mask = masks(s.mask);
                for (r, acc) in acc.iter_mut().enumerate().take(t.rows - row0) {
                    let base = out.channel(t.channel + row0 + r).as_ptr().wrapping_offset(s.shift);
                    for (j, a) in acc.iter_mut().enumerate() {
                        // SAFETY: the segment's lanes are inside the row (as for the stores below);
                        // masked-off lanes are not read. Segments do not overlap: the blend keeps
                        // the lanes of the others.
                        let v = unsafe { _mm256_maskload_ps(base.wrapping_add(8 * j), mask[j]) };
                        *a = _mm256_blendv_ps(*a, v, _mm256_castsi256_ps(mask[j]));
                    }
                }
            }
        }
        // SAFETY: off + cols <= image.len() for every offset (checked above): a full tile reads 16
        // values, a partial one only its valid lanes. The panel holds MR weights per depth step.
        acc = unsafe {
            if full {
                avx2_rows::<true>(acc, t.panel.as_ptr().add(row0), t.image.as_ptr(), t.offsets, valid)
            } else {
                avx2_rows::<false>(acc, t.panel.as_ptr().add(row0), t.image.as_ptr(), t.offsets, valid)
            }
        };
        let mut values = [[zero; AVX2_VECS]; AVX2_ROWS];
        for (r, (acc, values)) in acc.iter().zip(&mut values).enumerate().take(t.rows - row0) {
            let bias = _mm256_set1_ps(if t.last { t.bias[row0 + r] } else { 0.0 });
            *values = acc.map(|a| {
                let v = _mm256_add_ps(a, bias);
                if t.relu && t.last {
                    // ReLU keeping NaN (the model's forward does): lanes `<= 0` (ordered) become 0.
                    _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(v, zero), v)
                } else {
                    v
                }
            });
        }
        for s in t.segments {
            let mask = masks(s.mask);
            for (r, values) in values.iter().enumerate().take(t.rows - row0) {
                let base = out.channel(t.channel + row0 + r).as_mut_ptr().wrapping_offset(s.shift);
                for (j, v) in values.iter().enumerate() {
                    // SAFETY: a segment's lanes l map to row[shift + l] with 0 <= shift + l < plane
                    // (they are the valid positions of one output row); masked-off lanes are not
                    // written.
                    unsafe { _mm256_maskstore_ps(base.wrapping_add(8 * j), mask[j], *v) };
                }
            }
        }
    }
}

/// One pass of the AVX2 tile: `acc[r] += w[r] · run` over the depth steps, for the four rows whose
/// weights start at `panel` (`MR` apart per step); the runs start at `image + offsets[k]`, all 16
/// lanes when `FULL`, else only the lanes of `valid`. Kept apart so that the accumulators, the runs
/// and the broadcast are all the registers the loop holds.
///
/// # Safety
/// Every run's lanes read must be inside the image, and `panel` must hold `MR` weights per step.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn avx2_rows<const FULL: bool>(
    mut acc: [[std::arch::x86_64::__m256; AVX2_VECS]; AVX2_ROWS],
    panel: *const f32,
    image: *const f32,
    offsets: &[usize],
    valid: [std::arch::x86_64::__m256i; AVX2_VECS],
) -> [[std::arch::x86_64::__m256; AVX2_VECS]; AVX2_ROWS] {
    use std::arch::x86_64::*;
    for (k, &off) in offsets.iter().enumerate() {
        // SAFETY: passed on from the caller.
        unsafe {
            let run = image.add(off);
            let x: [__m256; AVX2_VECS] = if FULL {
                std::array::from_fn(|j| _mm256_loadu_ps(run.add(8 * j)))
            } else {
                std::array::from_fn(|j| _mm256_maskload_ps(run.wrapping_add(8 * j), valid[j]))
            };
            let w = panel.add(k * MR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let w = _mm256_broadcast_ss(&*w.add(r));
                for (a, &x) in acc.iter_mut().zip(&x) {
                    *a = _mm256_fmadd_ps(w, x, *a);
                }
            }
        }
    }
    acc
}
