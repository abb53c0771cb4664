//! Packing four activation panels at once with AVX-512BW: per depth unit, the 64 columns of four
//! patch rows become the `Quads8` words of four consecutive panels. The 128-bit-lane byte and word
//! interleaves of the SSE version ([`super::super::pack_i8::interleave_quads`]) act on each panel in
//! its own lane; a 4×4 transpose of the lanes then gathers each panel's 16 words.

use std::arch::x86_64::*;

use crate::kernels::isa::Isa;
use crate::kernels::types::NR;

/// Whether the packing may use [`pack_quads_x4`] ([`Isa::Avx512`] enabled).
pub fn available() -> bool {
    Isa::Avx512.enabled()
}

/// Packs the whole depth units of four full panels of a wide patch matrix: patch row `r` starts at
/// `padded[starts[r]]`, the panels hold columns `c0 .. c0 + 64`, and unit `j` (rows `4j .. 4j + 4`)
/// goes to words `j·NR ..` of each panel: `panels[p][j·NR + i] = [row 4j, 4j+1, 4j+2, 4j+3 at
/// column c0 + 16p + i]` as little-endian bytes. Rows past the last whole unit are left to the caller.
///
/// # Panics
/// When a row's 64 columns run past `padded` or a panel is shorter than the whole units.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW ([`available`]).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn pack_quads_x4(padded: &[u8], starts: &[usize], c0: usize, panels: [&mut [i32]; 4]) {
    let whole = starts.len() / 4;
    let starts = &starts[..4 * whole];
    assert!(starts.iter().all(|&s| s + c0 + 4 * NR <= padded.len()), "a patch row runs past the padded image");
    assert!(panels.iter().all(|p| p.len() >= whole * NR), "a panel is shorter than its units");
    let base = padded.as_ptr().add(c0);
    let out = panels.map(|p| p.as_mut_ptr());
    for (j, rows) in starts.chunks_exact(4).enumerate() {
        // SAFETY: every row's 64 bytes and every panel's words were bounds-checked above.
        let [a, b, c, d] = [0, 1, 2, 3].map(|u| _mm512_loadu_si512(base.add(rows[u]).cast()));
        let (ab_lo, ab_hi) = (_mm512_unpacklo_epi8(a, b), _mm512_unpackhi_epi8(a, b));
        let (cd_lo, cd_hi) = (_mm512_unpacklo_epi8(c, d), _mm512_unpackhi_epi8(c, d));
        // Lane p of `w0` holds words 0..4 of panel p, `w1` words 4..8, and so on.
        let w0 = _mm512_unpacklo_epi16(ab_lo, cd_lo);
        let w1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
        let w2 = _mm512_unpacklo_epi16(ab_hi, cd_hi);
        let w3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
        // Transpose the 4×4 matrix of lanes: t0 = [w0.0, w0.1, w1.0, w1.1], ...
        let t0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(w0, w1);
        let t1 = _mm512_shuffle_i32x4::<0b01_00_01_00>(w2, w3);
        let t2 = _mm512_shuffle_i32x4::<0b11_10_11_10>(w0, w1);
        let t3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(w2, w3);
        let words = [
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t0, t1),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t0, t1),
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t2, t3),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t2, t3),
        ];
        for (dst, words) in out.iter().zip(words) {
            _mm512_storeu_si512(dst.add(j * NR).cast(), words);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::pack_i8::generic_interleave_quads_u8;

    #[test]
    fn four_panels_equal_the_plain_interleave() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512BW");
            return;
        }
        // Nine rows (two whole units) at scattered starts in a 300-byte image, columns 5 .. 69.
        let padded: Vec<u8> = (0..300).map(|i| (i * 7 + i / 13) as u8).collect();
        let starts = [3, 40, 17, 90, 150, 11, 200, 61, 0];
        let c0 = 5;
        let mut panels = vec![vec![-1i32; 2 * NR + 3]; 4];
        let [p0, p1, p2, p3] = &mut panels[..] else { unreachable!() };
        // SAFETY: AVX-512F and BW are present (checked above).
        unsafe { pack_quads_x4(&padded, &starts, c0, [p0, p1, p2, p3]) };
        for (p, panel) in panels.iter().enumerate() {
            for j in 0..2 {
                let part = |u: usize| -> [u8; NR] { padded[starts[4 * j + u] + c0 + p * NR..][..NR].try_into().unwrap() };
                let mut want = [0i32; NR];
                generic_interleave_quads_u8(&part(0), &part(1), &part(2), &part(3), &mut want);
                assert_eq!(&panel[j * NR..(j + 1) * NR], &want, "panel {p}, unit {j}");
            }
            assert_eq!(&panel[2 * NR..], &[-1; 3], "words past the whole units are the caller's");
        }
    }
}
