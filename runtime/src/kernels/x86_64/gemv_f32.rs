//! The fp32 matrix-vector row kernels on AVX-512 and AVX2+FMA (explicit fused multiply-adds): four
//! rows at a time, sixteen columns per step, the fast twins of
//! [`generic_gemv_f32_4x16`](crate::kernels::generic::gemv_f32::generic_gemv_f32_4x16).

use crate::kernels::generic::gemv_f32::{by_groups, LANES, ROWS};
use crate::kernels::isa::Isa;

/// `y += W·x` (as [`generic_gemv_f32_4x16`](crate::kernels::generic::gemv_f32::generic_gemv_f32_4x16)) on AVX-512.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx512`].
pub fn avx512_gemv_f32_4x16(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    assert!(Isa::Avx512.on_cpu(), "avx512_gemv_f32_4x16 needs AVX-512");
    // SAFETY: the CPU has AVX-512 F (checked just above).
    unsafe { avx512(w, cols, x, y) }
}

/// `y += W·x` (as [`generic_gemv_f32_4x16`](crate::kernels::generic::gemv_f32::generic_gemv_f32_4x16)) on AVX2 and FMA.
///
/// # Panics
/// When the CPU lacks [`Isa::Avx2`].
pub fn avx2_gemv_f32_4x16(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    assert!(Isa::Avx2.on_cpu(), "avx2_gemv_f32_4x16 needs AVX2 and FMA");
    // SAFETY: the CPU has AVX2 and FMA (checked just above).
    unsafe { avx2(w, cols, x, y) }
}

/// AVX-512: four rows at a time, 16 columns per load, fused multiply-adds.
#[target_feature(enable = "avx512f")]
fn avx512(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    by_groups(w, cols, x, y, |rows, body| {
        let mut acc = [_mm512_setzero_ps(); ROWS];
        for start in (0..body).step_by(LANES) {
            // SAFETY: start + LANES <= body <= cols = x.len(), and row r of the group holds `cols`
            // values from r·cols: every load reads LANES values inside its slice.
            unsafe {
                let xs = _mm512_loadu_ps(x.as_ptr().add(start));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(rows.as_ptr().add(r * cols + start)), xs, *a);
                }
            }
        }
        acc.map(|a| _mm512_reduce_add_ps(a))
    })
}

/// AVX2: four rows at a time, two 8-lane accumulators per row (16 columns per step).
#[target_feature(enable = "avx2,fma")]
fn avx2(w: &[f32], cols: usize, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    by_groups(w, cols, x, y, |rows, body| {
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        for start in (0..body).step_by(LANES) {
            // SAFETY: as in the AVX-512 kernel: start + 16 <= body <= cols, inside x and each row.
            unsafe {
                let (x0, x1) = (_mm256_loadu_ps(x.as_ptr().add(start)), _mm256_loadu_ps(x.as_ptr().add(start + 8)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let p = rows.as_ptr().add(r * cols + start);
                    a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(p), x0, a[0]);
                    a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(8)), x1, a[1]);
                }
            }
        }
        acc.map(|[a0, a1]| {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds 8 f32, one unaligned 256-bit store.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(a0, a1)) };
            lanes.iter().sum()
        })
    })
}
