//! The packing interleaves with SSE2 unpacks (SSE2 is part of every x86-64 CPU, the baseline the
//! crate is compiled for, so no tier of [`crate::kernels::isa`](mod@crate::kernels::isa) gates them):
//! the fast twins of [`crate::kernels::generic::pack_i8`].

use crate::kernels::types::NR;

/// [`generic_interleave_pairs_u8`](crate::kernels::generic::pack_i8::generic_interleave_pairs_u8) with SSE2 unpacks.
#[inline]
pub fn sse2_interleave_pairs_u8(e: &[u8; NR], o: &[u8; NR], dst: &mut [i32; NR]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in the x86-64 baseline; each load reads the 16 bytes of one array and the
    // four stores write the 64 bytes of `dst`, all unaligned accesses.
    unsafe {
        let zero = _mm_setzero_si128();
        let (e, o) = (_mm_loadu_si128(e.as_ptr().cast()), _mm_loadu_si128(o.as_ptr().cast()));
        // Interleaving bytes with zero widens u8 to u16; interleaving those gives the pairs.
        let (e_lo, e_hi) = (_mm_unpacklo_epi8(e, zero), _mm_unpackhi_epi8(e, zero));
        let (o_lo, o_hi) = (_mm_unpacklo_epi8(o, zero), _mm_unpackhi_epi8(o, zero));
        let out = dst.as_mut_ptr().cast::<__m128i>();
        _mm_storeu_si128(out, _mm_unpacklo_epi16(e_lo, o_lo));
        _mm_storeu_si128(out.add(1), _mm_unpackhi_epi16(e_lo, o_lo));
        _mm_storeu_si128(out.add(2), _mm_unpacklo_epi16(e_hi, o_hi));
        _mm_storeu_si128(out.add(3), _mm_unpackhi_epi16(e_hi, o_hi));
    }
}

/// [`generic_interleave_quads_u8`](crate::kernels::generic::pack_i8::generic_interleave_quads_u8) with SSE2 byte and word unpacks.
#[inline]
pub fn sse2_interleave_quads_u8(a: &[u8; NR], b: &[u8; NR], c: &[u8; NR], d: &[u8; NR], dst: &mut [i32; NR]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in the x86-64 baseline; each load reads the 16 bytes of one array and the
    // four stores write the 64 bytes of `dst`, all unaligned accesses.
    unsafe {
        let (a, b, c, d) = (
            _mm_loadu_si128(a.as_ptr().cast()),
            _mm_loadu_si128(b.as_ptr().cast()),
            _mm_loadu_si128(c.as_ptr().cast()),
            _mm_loadu_si128(d.as_ptr().cast()),
        );
        let (ab_lo, ab_hi) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
        let (cd_lo, cd_hi) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
        let out = dst.as_mut_ptr().cast::<__m128i>();
        _mm_storeu_si128(out, _mm_unpacklo_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(out.add(1), _mm_unpackhi_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(out.add(2), _mm_unpacklo_epi16(ab_hi, cd_hi));
        _mm_storeu_si128(out.add(3), _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
}
