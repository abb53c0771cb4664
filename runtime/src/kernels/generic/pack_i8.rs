//! The packing interleaves in plain Rust: one column's packed word from its depth unit's bytes, the
//! portable twins of the SSE2 versions in [`crate::kernels::x86_64::interleave`].

use crate::kernels::types::NR;

/// `dst[i] = (e[i], o[i])` widened to `i16`: the [`PanelLayout::Pairs16`](crate::kernels::pack_i8::PanelLayout::Pairs16) word of one column.
#[inline]
pub fn generic_interleave_pairs_u8(e: &[u8; NR], o: &[u8; NR], dst: &mut [i32; NR]) {
    for i in 0..NR {
        dst[i] = (e[i] as u32 | (o[i] as u32) << 16) as i32;
    }
}

/// `dst[i] = bytes (a[i], b[i], c[i], d[i])`, lowest first: the [`PanelLayout::Quads8`](crate::kernels::pack_i8::PanelLayout::Quads8) word of
/// one column.
#[inline]
pub fn generic_interleave_quads_u8(a: &[u8; NR], b: &[u8; NR], c: &[u8; NR], d: &[u8; NR], dst: &mut [i32; NR]) {
    for i in 0..NR {
        dst[i] = i32::from_le_bytes([a[i], b[i], c[i], d[i]]);
    }
}
