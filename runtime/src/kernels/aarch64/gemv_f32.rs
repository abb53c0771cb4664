//! The fp32 matrix-vector row kernel on NEON: four rows at a time, sixteen columns per step (four
//! registers per row, 16 accumulators), `fmla` on whole registers; the fast twin of
//! [`generic_gemv_f32_4x16`](crate::kernels::generic::gemv_f32::generic_gemv_f32_4x16).

use std::arch::aarch64::*;

use crate::kernels::generic::gemv_f32::{by_groups, LANES, ROWS};
use crate::kernels::isa::Isa;

/// `y += W·x` (as [`generic_gemv_f32_4x16`](crate::kernels::generic::gemv_f32::generic_gemv_f32_4x16)) on NEON.
///
/// # Panics
/// When the CPU lacks [`Isa::Neon`].
pub fn neon_gemv_f32_4x16(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    assert!(Isa::Neon.on_cpu(), "neon_gemv_f32_4x16 needs NEON");
    // SAFETY: the CPU has NEON (checked just above).
    unsafe { neon(w, cols, x, y) }
}

#[target_feature(enable = "neon")]
fn neon(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    by_groups(w, cols, x, y, |rows, body| {
        let mut acc = [[vdupq_n_f32(0.0); 4]; ROWS];
        for start in (0..body).step_by(LANES) {
            // SAFETY: start + 16 <= body <= cols = x.len(), and row r of the group holds `cols`
            // values from r·cols: every load reads four values inside its slice.
            unsafe {
                let xp = x.as_ptr().add(start);
                let xs = [vld1q_f32(xp), vld1q_f32(xp.add(4)), vld1q_f32(xp.add(8)), vld1q_f32(xp.add(12))];
                for (r, a) in acc.iter_mut().enumerate() {
                    let p = rows.as_ptr().add(r * cols + start);
                    for (j, a) in a.iter_mut().enumerate() {
                        *a = vfmaq_f32(*a, vld1q_f32(p.add(4 * j)), xs[j]);
                    }
                }
            }
        }
        acc.map(|[a0, a1, a2, a3]| vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))))
    })
}
