//! The direct fp32 conv's tile in plain Rust (`8 × 16`): the portable twin of the AVX2 and AVX-512
//! tiles, with the same order of additions per output.

use crate::kernels::conv_tile::{Tile, MR};
use crate::kernels::out_ptr::OutView;

/// The plain twin: the same depth order per output as the SIMD tiles.
pub(crate) fn generic_conv_f32_8x16(t: &Tile<'_>, out: &mut OutView<'_>) {
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
