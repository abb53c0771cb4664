//! The inner columns of a `u8` max pool with a 3-wide window and stride 2 (ResNet's stem pool),
//! 32 outputs per step: the maximum of three overlapping 64-byte loads holds every window's
//! maximum at its even bytes, which `vpmovwb` gathers (the low byte of each 16-bit lane).

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

#[cfg(test)]
mod tests {
    use super::*;

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
