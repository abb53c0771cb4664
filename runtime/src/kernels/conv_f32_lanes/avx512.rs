//! The AVX-512 tiles of [`LanesConvF32`]: six positions by up to four vectors of sixteen channels.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{Epilogue, LanesConvF32, LANES, POSITIONS};
use crate::kernels::conv_geometry::panel_runs;
use crate::kernels::OutPtr;

/// Tiles `tiles` (panel after panel, six positions after six) of `conv` over the padded image
/// `image`, into `out`.
///
/// # Safety
/// AVX-512 F must be available, the operands checked (`image` padded by the conv's geometry),
/// and no other thread may reach these tiles' outputs.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) unsafe fn tiles(
    conv: &LanesConvF32,
    image: &[f32],
    out: &OutPtr<'_>,
    tiles: Range<usize>,
    epilogue: Epilogue,
) {
    let per_panel = conv.geometry.out_len().div_ceil(POSITIONS);
    for (panel, share) in panel_runs(tiles, per_panel) {
        // SAFETY: passed on from the caller.
        unsafe {
            match conv.vectors(panel) {
                4 => panel_tiles::<4>(conv, image, out, panel, share, epilogue),
                3 => panel_tiles::<3>(conv, image, out, panel, share, epilogue),
                2 => panel_tiles::<2>(conv, image, out, panel, share, epilogue),
                _ => panel_tiles::<1>(conv, image, out, panel, share, epilogue),
            }
        }
    }
}

/// Tiles `share` of panel `panel`, which has `NZ` vectors of channels.
///
/// # Safety
/// As [`tiles`].
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn panel_tiles<const NZ: usize>(
    conv: &LanesConvF32,
    image: &[f32],
    out: &OutPtr<'_>,
    panel: usize,
    share: Range<usize>,
    epilogue: Epilogue,
) {
    let positions = conv.geometry.out_len();
    let offset = conv.panel_offset(panel);
    let mut bias = [_mm512_setzero_ps(); NZ];
    for (z, b) in bias.iter_mut().enumerate() {
        // SAFETY: the bias holds whole panels.
        *b = unsafe { _mm512_loadu_ps(conv.bias.as_ptr().add(panel * conv.panel + z * LANES)) };
    }
    for tile in share {
        let (first, n) = tile_span(tile, positions);
        let at = conv.tile_positions(first, n);
        // SAFETY: passed on from the caller; the panel's vectors start at `offset`.
        let acc = unsafe {
            steps::<NZ>(
                [bias; POSITIONS],
                image,
                &conv.steps,
                conv.weights.as_ptr().add(offset),
                &at,
            )
        };
        // SAFETY: passed on from the caller.
        unsafe { store::<NZ>(conv, &acc, out, panel, (first, n), epilogue) };
    }
}

/// `(first position, positions)` of tile `tile` of a panel.
fn tile_span(tile: usize, positions: usize) -> (usize, usize) {
    let first = tile * POSITIONS;
    (first, (positions - first).min(POSITIONS))
}

/// `acc` plus the depth steps `steps` (their weight vectors from `w` on) of the positions at
/// offsets `at` in `image`. (Blocks of depth steps shared by groups of tiles, so that each
/// block's weights come from memory once, and fetching the next block's weights ahead, measured
/// the same on ResNet-18's 7×7 convs, whose weights come from memory.)
///
/// # Safety
/// As [`tiles`]; `w` holds `NZ` vectors for each of `steps`.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
unsafe fn steps<const NZ: usize>(
    mut acc: [[__m512; NZ]; POSITIONS],
    image: &[f32],
    steps: &[usize],
    mut w: *const f32,
    at: &[usize; POSITIONS],
) -> [[__m512; NZ]; POSITIONS] {
    for &step in steps {
        // SAFETY: every position's value at this step lies in the padded image.
        let a = unsafe { image.as_ptr().add(step) };
        let mut wv = [_mm512_setzero_ps(); NZ];
        for (z, v) in wv.iter_mut().enumerate() {
            // SAFETY: NZ vectors per step, in order.
            *v = unsafe { _mm512_loadu_ps(w.add(LANES * z)) };
        }
        for (row, &off) in acc.iter_mut().zip(at) {
            // SAFETY: see above.
            let x = _mm512_set1_ps(unsafe { *a.add(off) });
            for (s, &v) in row.iter_mut().zip(&wv) {
                *s = _mm512_fmadd_ps(x, v, *s);
            }
        }
        // SAFETY: the next step's vectors (one past the panel after the last).
        w = unsafe { w.add(LANES * NZ) };
    }
    acc
}

/// The tile's sums as values `first .. first + n` of each of the panel's channel planes.
///
/// # Safety
/// As [`tiles`].
#[target_feature(enable = "avx512f,avx512vl")]
#[allow(clippy::needless_range_loop)] // `z` picks one vector of every position's sums.
unsafe fn store<const NZ: usize>(
    conv: &LanesConvF32,
    acc: &[[__m512; NZ]; POSITIONS],
    out: &OutPtr<'_>,
    panel: usize,
    (first, n): (usize, usize),
    epilogue: Epilogue,
) {
    let positions = conv.geometry.out_len();
    let base = out.ptr();
    let mask: __mmask8 = (1u16 << n) as u8 - 1;
    let zero = _mm256_setzero_ps();
    for z in 0..NZ {
        let ch0 = panel * conv.panel + z * LANES;
        let mut rows = [_mm512_setzero_ps(); 8];
        for (r, sums) in rows.iter_mut().zip(acc) {
            *r = sums[z];
        }
        // Sixteen runs of eight positions: channel `c`'s in quarter `c / 4` of pair `c % 4`.
        let runs = transpose_8x16(rows);
        for c in 0..(conv.out_channels - ch0).min(LANES) {
            let pair = runs[c % 4];
            let mut v = match c / 4 {
                0 => _mm512_castps512_ps256(pair[0]),
                1 => _mm512_extractf32x8_ps::<1>(pair[0]),
                2 => _mm512_castps512_ps256(pair[1]),
                _ => _mm512_extractf32x8_ps::<1>(pair[1]),
            };
            // SAFETY: positions first .. first + n of channel ch0 + c are inside the output
            // and this tile's own (the caller keeps other threads off them).
            unsafe {
                let dst = base.add((ch0 + c) * positions + first);
                if epilogue.add {
                    v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(mask, dst));
                }
                if epilogue.relu {
                    // ReLU keeping NaN, as the model's forward does: lanes `<= 0` become 0.
                    v = _mm256_mask_mov_ps(v, _mm256_cmp_ps_mask::<_CMP_LE_OQ>(v, zero), zero);
                }
                _mm256_mask_storeu_ps(dst, mask, v);
            }
        }
    }
}

/// Eight rows of sixteen lanes into sixteen runs of eight: lane `c` of every row lands in
/// pair `c % 4`, vector `c / 8`, half `c / 4 % 2`, row `r` at place `r`.
#[target_feature(enable = "avx512f")]
fn transpose_8x16(r: [__m512; 8]) -> [[__m512; 2]; 4] {
    // Within each 128-bit lane `l` (channels 4l .. 4l + 4): pairs of rows, then quads.
    let t = [
        _mm512_unpacklo_ps(r[0], r[1]),
        _mm512_unpackhi_ps(r[0], r[1]),
        _mm512_unpacklo_ps(r[2], r[3]),
        _mm512_unpackhi_ps(r[2], r[3]),
        _mm512_unpacklo_ps(r[4], r[5]),
        _mm512_unpackhi_ps(r[4], r[5]),
        _mm512_unpacklo_ps(r[6], r[7]),
        _mm512_unpackhi_ps(r[6], r[7]),
    ];
    // u[j] (rows 0–3) and u[4 + j] (rows 4–7): lane l holds channel 4l + j.
    let u = [
        _mm512_shuffle_ps::<0x44>(t[0], t[2]),
        _mm512_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm512_shuffle_ps::<0x44>(t[1], t[3]),
        _mm512_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm512_shuffle_ps::<0x44>(t[4], t[6]),
        _mm512_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm512_shuffle_ps::<0x44>(t[5], t[7]),
        _mm512_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    // Lanes [a.0, b.0, a.1, b.1]: channels j and 4 + j; [a.2, b.2, a.3, b.3]: 8 + j and 12 + j.
    let low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    let high = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    std::array::from_fn(|j| {
        [
            _mm512_permutex2var_ps(u[j], low, u[4 + j]),
            _mm512_permutex2var_ps(u[j], high, u[4 + j]),
        ]
    })
}
