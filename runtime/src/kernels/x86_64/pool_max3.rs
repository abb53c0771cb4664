//! The inner columns of a max pool with a 3-wide window and stride 2 (ResNet's stem pool). `u8`:
//! 32 outputs per step, the maximum of three overlapping 64-byte loads holds every window's
//! maximum at its even bytes, which `vpmovwb` gathers (the low byte of each 16-bit lane). `f32`:
//! 16 outputs per step, the even and odd values of 32 (and the evens from two on) picked out of
//! two loads each, with the scalar loop's NaN rule.

use std::arch::x86_64::*;

use crate::kernels::isa::Isa;

/// `out[j] = max(row[start + 2j], row[start + 2j + 1], row[start + 2j + 2])` for the leading outputs
/// whose windows fit 64-byte loads inside `row`, in steps of 32; returns how many it wrote (0
/// without AVX-512 BW within `FASTERAI_MAX_ISA`). The caller finishes the rest.
pub(crate) fn max3_stride2_u8(row: &[u8], start: usize, out: &mut [u8]) -> usize {
    if !Isa::Avx512.enabled() {
        return 0;
    }
    // SAFETY: AVX-512 F and BW are present (checked just above).
    unsafe { steps(row, start, out) }
}

#[target_feature(enable = "avx512f,avx512bw")]
fn steps(row: &[u8], start: usize, out: &mut [u8]) -> usize {
    let mut done = 0;
    // Output j's window ends at byte start + 2j + 2; a step's third load ends at start + 2j + 66.
    while done + 32 <= out.len() && start + 2 * done + 66 <= row.len() {
        let at = start + 2 * done;
        // SAFETY: bytes at .. at + 66 are inside `row` (the loop condition); the 32 bytes from
        // `done` are inside `out`.
        unsafe {
            let p = row.as_ptr().add(at);
            let (a, b, c) = (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(1).cast()), _mm512_loadu_si512(p.add(2).cast()));
            let m = _mm512_max_epu8(_mm512_max_epu8(a, b), c);
            _mm256_storeu_si256(out.as_mut_ptr().add(done).cast(), _mm512_cvtepi16_epi8(m));
        }
        done += 32;
    }
    done
}

/// `out[j]` = the maximum of `row[start + 2j ..][..3]` (NaN if any is NaN, as
/// [`max_keeping_nan`](crate::kernels::pool::max_keeping_nan)) for the leading outputs whose windows
/// fit the loads inside `row`, in steps of 16; returns how many it wrote (0 without AVX-512 F within
/// `FASTERAI_MAX_ISA`). The caller finishes the rest.
pub(crate) fn max3_stride2_f32(row: &[f32], start: usize, out: &mut [f32]) -> usize {
    if !Isa::Avx512.enabled() {
        return 0;
    }
    // SAFETY: AVX-512 F is present (checked just above).
    unsafe { steps_f32(row, start, out) }
}

#[target_feature(enable = "avx512f")]
fn steps_f32(row: &[f32], start: usize, out: &mut [f32]) -> usize {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // The scalar rule: the larger unless either is NaN, then their sum (a NaN).
    let larger = |a: __m512, b: __m512| {
        let max = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a), a, b);
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b), max, _mm512_add_ps(a, b))
    };
    let mut done = 0;
    // Output j's window ends at start + 2j + 2; a step's last load ends at start + 2j + 34.
    while done + 16 <= out.len() && start + 2 * done + 34 <= row.len() {
        // SAFETY: values at .. at + 34 are inside `row` (the loop condition); the 16 from `done`
        // are inside `out`.
        unsafe {
            let p = row.as_ptr().add(start + 2 * done);
            let (a, b) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
            let (c, d) = (_mm512_loadu_ps(p.add(2)), _mm512_loadu_ps(p.add(18)));
            let m = larger(larger(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b)), _mm512_permutex2var_ps(c, even, d));
            _mm512_storeu_ps(out.as_mut_ptr().add(done), m);
        }
        done += 16;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pool::max_keeping_nan;

    #[test]
    fn leading_f32_outputs_are_the_window_maxima_nan_kept() {
        let mut row: Vec<f32> = (0..200u32).map(|i| (i * 97 % 251) as f32 - 120.0).collect();
        (row[7], row[40]) = (f32::NAN, -0.0);
        for start in [0, 1, 5] {
            for n in [0, 15, 16, 17, 48, 83] {
                let mut out = vec![0.0; n];
                let done = max3_stride2_f32(&row, start, &mut out);
                if Isa::Avx512.enabled() {
                    assert_eq!(done, n / 16 * 16, "start {start}, {n} outputs");
                }
                for j in 0..done {
                    let at = start + 2 * j;
                    let want = max_keeping_nan(max_keeping_nan(row[at], row[at + 1]), row[at + 2]);
                    assert_eq!(out[j].to_bits(), want.to_bits(), "output {j} from {start}");
                }
            }
        }
        assert_eq!(max3_stride2_f32(&row[..33], 0, &mut [0.0; 16]), 0);
    }

    #[test]
    fn leading_outputs_are_the_window_maxima() {
        let row: Vec<u8> = (0..300u32).map(|i| (i * 97 % 251) as u8).collect();
        for start in [0, 1, 5] {
            for n in [0, 31, 32, 33, 64, 117] {
                let mut out = vec![0u8; n];
                let done = max3_stride2_u8(&row, start, &mut out);
                if Isa::Avx512.enabled() {
                    assert_eq!(done, n / 32 * 32, "start {start}, {n} outputs");
                }
                for j in 0..done {
                    let at = start + 2 * j;
                    assert_eq!(out[j], row[at].max(row[at + 1]).max(row[at + 2]), "output {j}");
                }
            }
        }
        // Windows that run past the row are left to the caller.
        assert_eq!(max3_stride2_u8(&row[..65], 0, &mut [0; 32]), 0);
    }
}
