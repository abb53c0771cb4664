//! x86-64 int8 matrix-vector products over rows padded to [`GEMV_ALIGN`] values
//! ([`crate::kernels::pack_i8::PackedRowsI8`]), four rows at a time so each activation load serves
//! four rows.
//! - AVX2: activations widened to `i16` once per call, weights widened per load, `vpmaddwd`.
//! - AVX-VNNI: `vpdpbusd` on 32 bytes of each, no widening.
//! - AVX-512 VNNI: `vpdpbusd` on 64 bytes of each; a row whose length is an odd multiple of 32
//!   ends with 32 bytes zero-extended to 64.

use std::arch::x86_64::*;

use crate::kernels::pack_i8::GEMV_ALIGN;

/// Sum of the eight `i32` lanes.
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Rows of `w` (each `stride` bytes, `stride` a multiple of 32) times `x` (`stride` bytes).
#[target_feature(enable = "avx2,fma")]
fn gemv_avx2(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    // Activations widened once: 16 i16 per register.
    let xw: Vec<__m256i> = x
        .chunks_exact(16)
        // SAFETY: each chunk holds 16 bytes: one unaligned 128-bit load.
        .map(|c| _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(c.as_ptr().cast()) }))
        .collect();
    for (rows, outs) in w.chunks(4 * stride).zip(out.chunks_mut(4)) {
        let mut acc = [_mm256_setzero_si256(); 4];
        for (i, &xv) in xw.iter().enumerate() {
            for (a, row) in acc.iter_mut().zip(rows.chunks_exact(stride)) {
                // SAFETY: row holds `stride` = 16·xw.len() bytes; this reads bytes 16i .. 16i + 16.
                let wv = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(row.as_ptr().add(16 * i).cast()) });
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
            }
        }
        for (a, o) in acc.iter().zip(outs) {
            *o = horizontal_sum(*a);
        }
    }
}

#[target_feature(enable = "avx2,fma,avxvnni")]
fn gemv_vnni(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    for (rows, outs) in w.chunks(4 * stride).zip(out.chunks_mut(4)) {
        let mut acc = [_mm256_setzero_si256(); 4];
        for (i, xc) in x.chunks_exact(GEMV_ALIGN).enumerate() {
            // SAFETY: `xc` holds 32 bytes: one unaligned 256-bit load.
            let xv = unsafe { _mm256_loadu_si256(xc.as_ptr().cast()) };
            for (a, row) in acc.iter_mut().zip(rows.chunks_exact(stride)) {
                // SAFETY: row holds `stride` bytes, a multiple of 32; this reads 32i .. 32i + 32.
                let wv = unsafe { _mm256_loadu_si256(row.as_ptr().add(GEMV_ALIGN * i).cast()) };
                *a = _mm256_dpbusd_avx_epi32(*a, xv, wv);
            }
        }
        for (a, o) in acc.iter().zip(outs) {
            *o = horizontal_sum(*a);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
fn gemv_avx512(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    const WIDE: usize = 2 * GEMV_ALIGN;
    let tail = stride % WIDE;
    for (rows, outs) in w.chunks(4 * stride).zip(out.chunks_mut(4)) {
        let mut acc = [_mm512_setzero_si512(); 4];
        for (i, xc) in x.chunks_exact(WIDE).enumerate() {
            // SAFETY: `xc` holds 64 bytes: one unaligned 512-bit load.
            let xv = unsafe { _mm512_loadu_si512(xc.as_ptr().cast()) };
            for (a, row) in acc.iter_mut().zip(rows.chunks_exact(stride)) {
                // SAFETY: row holds `stride` bytes; this reads 64i .. 64i + 64 ≤ stride − tail.
                let wv = unsafe { _mm512_loadu_si512(row.as_ptr().add(WIDE * i).cast()) };
                *a = _mm512_dpbusd_epi32(*a, xv, wv);
            }
        }
        if tail != 0 {
            let at = stride - tail;
            // SAFETY: the last 32 bytes of `x` and of each row (tail = 32 as stride is a multiple of 32).
            let xv = _mm512_zextsi256_si512(unsafe { _mm256_loadu_si256(x.as_ptr().add(at).cast()) });
            for (a, row) in acc.iter_mut().zip(rows.chunks_exact(stride)) {
                // SAFETY: as above, within the row.
                let wv = _mm512_zextsi256_si512(unsafe { _mm256_loadu_si256(row.as_ptr().add(at).cast()) });
                *a = _mm512_dpbusd_epi32(*a, xv, wv);
            }
        }
        for (a, o) in acc.iter().zip(outs) {
            *o = _mm512_reduce_add_epi32(*a);
        }
    }
}

fn check_padding(stride: usize, x: &[u8]) {
    assert!(stride.is_multiple_of(GEMV_ALIGN) && x.len() == stride, "GEMV operands must be padded to {GEMV_ALIGN}");
}

/// AVX2 matrix-vector product.
///
/// # Panics
/// If the CPU lacks AVX2/FMA (the table only holds this kernel after detecting them), or if the
/// operands are not padded to [`GEMV_ALIGN`] (the driver pads them).
pub fn avx2_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    assert!(crate::kernels::isa::Isa::Avx2.on_cpu(), "avx2_gemv_u8i8 needs AVX2 and FMA");
    check_padding(stride, x);
    // SAFETY: AVX2 and FMA are present (checked just above).
    unsafe { gemv_avx2(w, stride, x, out) }
}

/// AVX-VNNI matrix-vector product.
///
/// # Panics
/// As [`avx2_gemv_u8i8`], with AVX-VNNI.
pub fn avxvnni_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    assert!(crate::kernels::isa::Isa::AvxVnni.on_cpu(), "avxvnni_gemv_u8i8 needs AVX2, FMA and AVX-VNNI");
    check_padding(stride, x);
    // SAFETY: AVX2, FMA and AVX-VNNI are present (checked just above).
    unsafe { gemv_vnni(w, stride, x, out) }
}

/// AVX-512 VNNI matrix-vector product.
///
/// # Panics
/// As [`avx2_gemv_u8i8`], with AVX-512 F/BW/VNNI.
pub fn avx512vnni_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    assert!(crate::kernels::isa::Isa::Avx512Vnni.on_cpu(), "avx512vnni_gemv_u8i8 needs AVX-512 F/BW/VNNI, AVX2 and FMA");
    check_padding(stride, x);
    // SAFETY: the features are present (checked just above).
    unsafe { gemv_avx512(w, stride, x, out) }
}

/// Each SIMD GEMV against the portable one, whichever the table holds: row counts around the
/// four-row groups, lengths around the 32- and 64-byte steps.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::gemv_i8::generic_gemv_u8i8;
    use crate::kernels::pack_i8::PackedRowsI8;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn simd_gemvs_equal_the_portable_one() {
        let mut kernels: Vec<(&str, fn(&[i8], usize, &[u8], &mut [i32]))> = Vec::new();
        for (name, present, f) in [
            ("avx2", super::super::gemm_i8::available(), avx2_gemv_u8i8 as fn(&[i8], usize, &[u8], &mut [i32])),
            ("avxvnni", super::super::gemm_i8_vnni::available(), avxvnni_gemv_u8i8),
            ("avx512vnni", super::super::gemm_i8_avx512::available(), avx512vnni_gemv_u8i8),
        ] {
            if present {
                kernels.push((name, f));
            } else {
                eprintln!("skipped the {name} GEMV: this CPU does not have that instruction set");
            }
        }
        let mut rng = SmallRng::seed_from_u64(640);
        for rows in [1, 3, 4, 5, 9] {
            for depth in [1, 31, 32, 33, 64, 65, 96, 100, 128, 200] {
                let w: Vec<i8> = (0..rows * depth).map(|i| if i % 5 == 0 { -127 } else { rng.gen_range(-127..=127) }).collect();
                let packed = PackedRowsI8::new(&w, rows, depth).unwrap();
                let mut x: Vec<u8> = (0..depth).map(|i| if i % 3 == 0 { 255 } else { rng.gen() }).collect();
                x.resize(packed.stride(), 0);
                let mut want = vec![0; rows];
                generic_gemv_u8i8(packed.data(), packed.stride(), &x, &mut want);
                for (name, gemv) in &kernels {
                    let mut got = vec![-1; rows];
                    gemv(packed.data(), packed.stride(), &x, &mut got);
                    assert_eq!(got, want, "{name} rows={rows} depth={depth}");
                }
            }
        }
    }
}
