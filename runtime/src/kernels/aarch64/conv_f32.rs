//! The direct fp32 conv's tile on NEON (`8 × 12`), the fast twin of
//! [`generic_conv_f32_8x16`](crate::kernels::generic::conv_f32::generic_conv_f32_8x16).
//!
//! 24 accumulators (eight output channels × three registers of four positions) out of the 32
//! vector registers, as the arm64 kernels of tract and OpenBLAS block them: per depth step the tile
//! loads its three registers of positions and the panel's eight weights (two registers), then
//! issues 24 `fmla` by element, 96 multiply-adds. Each output is the same chain of fused
//! multiply-adds as the portable tile's, so the two agree bit for bit.

use std::arch::aarch64::*;

use crate::kernels::conv_tile::{Tile, MR};
use crate::kernels::isa::Isa;
use crate::kernels::out_ptr::OutView;

/// Positions per tile: three registers of four lanes.
const COLS: usize = 12;

/// Accumulators of a tile: per output channel, three registers of positions.
type Acc = [[float32x4_t; 3]; MR];

/// The `8 × 12` tile on NEON.
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`].
pub(crate) fn neon_conv_f32_8x12(t: &Tile<'_>, out: &mut OutView<'_>) {
    assert!(Isa::Neon.on_cpu(), "neon_conv_f32_8x12 needs NEON");
    // SAFETY: the CPU has NEON (checked just above).
    unsafe { neon(t, out) }
}

#[target_feature(enable = "neon")]
fn neon(t: &Tile<'_>, out: &mut OutView<'_>) {
    let last = t.offsets.last().copied().unwrap_or(0); // offsets increase with the depth step
    assert!(t.panel.len() >= t.offsets.len() * MR && t.image.len() >= last + t.cols, "tile operands cover the tile");
    assert!(t.cols <= COLS, "a tile of {} positions is wider than {COLS}", t.cols);
    let mut acc: Acc = [[vdupq_n_f32(0.0); 3]; MR];
    if !t.first {
        for (r, acc) in acc.iter_mut().enumerate().take(t.rows) {
            let mut lanes = [0.0f32; COLS];
            let row = out.channel(t.channel + r);
            for s in t.segments {
                for (lane, v) in lanes.iter_mut().enumerate().take(t.cols) {
                    if s.mask >> lane & 1 == 1 {
                        *v = row[(s.shift + lane as isize) as usize];
                    }
                }
            }
            *acc = load3(&lanes);
        }
    }
    let acc = if t.cols == COLS { full(acc, t) } else { partial(acc, t) };
    for (r, acc) in acc.iter().enumerate().take(t.rows) {
        let mut lanes = [0.0f32; COLS];
        for (j, &a) in acc.iter().enumerate() {
            // SAFETY: lanes 4j .. 4j + 4 are inside `lanes` (j < 3).
            unsafe { vst1q_f32(lanes.as_mut_ptr().add(4 * j), a) };
        }
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

/// The depth steps of a full tile, read in place. The accumulators are this function's own
/// values (not a borrowed array), so they stay in registers across the loop.
#[target_feature(enable = "neon")]
fn full(mut acc: Acc, t: &Tile<'_>) -> Acc {
    // The operands' addresses in locals, not re-read through `t` at every step.
    let (image, mut w) = (t.image.as_ptr(), t.panel.as_ptr());
    for &off in t.offsets {
        // SAFETY: off <= last offset and last + COLS <= image.len() (checked by the caller, with
        // cols == COLS); the panel holds MR weights per depth step (checked by the caller).
        unsafe {
            let run = image.add(off);
            let run = [vld1q_f32(run), vld1q_f32(run.add(4)), vld1q_f32(run.add(8))];
            acc = step(acc, w, run);
            w = w.add(MR);
        }
    }
    acc
}

/// The depth steps of a partial tile: its positions copied into a zeroed run (lanes past `cols`
/// are discarded).
#[target_feature(enable = "neon")]
fn partial(mut acc: Acc, t: &Tile<'_>) -> Acc {
    for (k, &off) in t.offsets.iter().enumerate() {
        let mut run = [0.0f32; COLS];
        run[..t.cols].copy_from_slice(&t.image[off..off + t.cols]);
        // SAFETY: the panel holds MR weights per depth step (checked by the caller).
        acc = unsafe { step(acc, t.panel.as_ptr().add(k * MR), load3(&run)) };
    }
    acc
}

/// The three registers of twelve positions.
#[target_feature(enable = "neon")]
#[inline]
fn load3(run: &[f32; COLS]) -> [float32x4_t; 3] {
    // SAFETY: three loads of four values at 0, 4 and 8, inside the twelve.
    unsafe { [vld1q_f32(run.as_ptr()), vld1q_f32(run.as_ptr().add(4)), vld1q_f32(run.as_ptr().add(8))] }
}

/// One depth step: `acc[r] += w[r] · run` for the panel's eight weights at `w`, by element of
/// the two weight registers.
///
/// # Safety
/// `w` must point at `MR` readable `f32`s.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn step(mut acc: Acc, w: *const f32, run: [float32x4_t; 3]) -> Acc {
    // SAFETY: two loads of four weights at 0 and 4, inside the caller's eight.
    let (lo, hi) = unsafe { (vld1q_f32(w), vld1q_f32(w.add(4))) };
    macro_rules! rows {
        ($($r:literal: $w:ident[$lane:literal]),*) => {$(
            acc[$r] = [
                vfmaq_laneq_f32::<$lane>(acc[$r][0], run[0], $w),
                vfmaq_laneq_f32::<$lane>(acc[$r][1], run[1], $w),
                vfmaq_laneq_f32::<$lane>(acc[$r][2], run[2], $w),
            ];
        )*};
    }
    rows!(0: lo[0], 1: lo[1], 2: lo[2], 3: lo[3], 4: hi[0], 5: hi[1], 6: hi[2], 7: hi[3]);
    acc
}
