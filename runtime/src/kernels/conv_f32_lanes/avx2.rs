//! The AVX2 tiles of [`LanesConvF32`]: six positions by one sixteen-channel vector of the
//! layout (two registers of eight), read from the same panels as the AVX-512 tiles.
//!
//! Twelve sums, two weight registers and a broadcast fill fifteen of the sixteen registers. A
//! vector of sixteen `f32` is one cache line, so a tile that takes one vector of a four-vector
//! panel still reads whole lines (every fourth one), and each weight is read once per tile as in
//! the AVX-512 tiles.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{Epilogue, LanesConvF32, LANES, POSITIONS};
use crate::kernels::conv_geometry::panel_runs;
use crate::kernels::OutPtr;

/// Tiles of sixteen channels × six positions the conv has.
pub(super) fn tile_count(conv: &LanesConvF32) -> usize {
    conv.out_channels.div_ceil(LANES) * conv.geometry.out_len().div_ceil(POSITIONS)
}

/// Tiles `tiles` (vector after vector of sixteen channels, six positions after six) of `conv` over
/// the padded image `image`, into `out`.
///
/// # Safety
/// AVX2 and FMA must be available, the operands checked (`image` padded by the conv's geometry),
/// and no other thread may reach these tiles' outputs.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tiles(
    conv: &LanesConvF32,
    image: &[f32],
    out: &OutPtr<'_>,
    tiles: Range<usize>,
    epilogue: Epilogue,
) {
    let positions = conv.geometry.out_len();
    let per_vector = positions.div_ceil(POSITIONS);
    for (vector, share) in panel_runs(tiles, per_vector) {
        let per_panel = conv.panel / LANES;
        let (panel, z) = (vector / per_panel, vector % per_panel);
        let stride = LANES * conv.vectors(panel);
        // SAFETY: the bias holds whole panels.
        let bias = unsafe {
            let b = conv.bias.as_ptr().add(vector * LANES);
            [_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))]
        };
        let w = conv.panel_offset(panel) + z * LANES;
        for tile in share {
            let first = tile * POSITIONS;
            let n = (positions - first).min(POSITIONS);
            let at = conv.tile_positions(first, n);
            // SAFETY: passed on from the caller; vector `z` of the panel's steps starts at `w`,
            // `stride` values apart.
            let acc = unsafe {
                steps(
                    [bias; POSITIONS],
                    image,
                    &conv.steps,
                    conv.weights.as_ptr().add(w),
                    stride,
                    &at,
                )
            };
            // SAFETY: passed on from the caller.
            unsafe { store(conv, &acc, out, vector * LANES, (first, n), epilogue) };
        }
    }
}

/// `acc` plus the depth steps `steps` (each a vector of sixteen weights, `stride` values after the
/// last, from `w` on) of the positions at offsets `at` in `image`.
///
/// # Safety
/// As [`tiles`]; `w` holds sixteen weights every `stride` values for each of `steps`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn steps(
    mut acc: [[__m256; 2]; POSITIONS],
    image: &[f32],
    steps: &[usize],
    mut w: *const f32,
    stride: usize,
    at: &[usize; POSITIONS],
) -> [[__m256; 2]; POSITIONS] {
    for &step in steps {
        // SAFETY: every position's value at this step lies in the padded image; the step's
        // sixteen weights are in place.
        unsafe {
            let a = image.as_ptr().add(step);
            let (w0, w1) = (_mm256_loadu_ps(w), _mm256_loadu_ps(w.add(8)));
            for (row, &off) in acc.iter_mut().zip(at) {
                let x = _mm256_broadcast_ss(&*a.add(off));
                row[0] = _mm256_fmadd_ps(x, w0, row[0]);
                row[1] = _mm256_fmadd_ps(x, w1, row[1]);
            }
            w = w.add(stride);
        }
    }
    acc
}

/// The tile's sums as values `first .. first + n` of the planes of channels `ch0 ..` (up to
/// sixteen, those the conv has).
///
/// # Safety
/// As [`tiles`].
#[target_feature(enable = "avx2,fma")]
unsafe fn store(
    conv: &LanesConvF32,
    acc: &[[__m256; 2]; POSITIONS],
    out: &OutPtr<'_>,
    ch0: usize,
    (first, n): (usize, usize),
    epilogue: Epilogue,
) {
    let positions = conv.geometry.out_len();
    let base = out.ptr();
    let lanes: [i32; 8] = std::array::from_fn(|i| if i < n { -1 } else { 0 });
    // SAFETY: eight values.
    let mask = unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) };
    let zero = _mm256_setzero_ps();
    for half in 0..2 {
        let mut rows = [zero; 8];
        for (r, sums) in rows.iter_mut().zip(acc) {
            *r = sums[half];
        }
        let runs = transpose_8x8(rows);
        let first_channel = ch0 + 8 * half;
        for (c, &run) in runs
            .iter()
            .enumerate()
            .take(conv.out_channels.saturating_sub(first_channel).min(8))
        {
            let mut v = run;
            // SAFETY: positions first .. first + n of this channel are inside the output and
            // this tile's own (the caller keeps other threads off them); masked lanes are not
            // touched.
            unsafe {
                let dst = base.add((first_channel + c) * positions + first);
                if epilogue.add {
                    v = _mm256_add_ps(v, _mm256_maskload_ps(dst, mask));
                }
                if epilogue.relu {
                    // ReLU keeping NaN, as the model's forward does: lanes `<= 0` become 0.
                    v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps::<_CMP_LE_OQ>(v, zero));
                }
                _mm256_maskstore_ps(dst, mask, v);
            }
        }
    }
}

/// Eight rows of eight lanes into eight runs: lane `c` of row `r` lands in run `c` at place `r`.
#[target_feature(enable = "avx2")]
fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
    // Within each 128-bit half: pairs of rows, then quads (`u[j]`: columns j and 4 + j of rows
    // 0–3, `u[4 + j]` of rows 4–7).
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    std::array::from_fn(|c| match c {
        0 => _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        1 => _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        2 => _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        3 => _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        4 => _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        5 => _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        6 => _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _ => _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transpose_puts_lane_c_of_row_r_at_place_r_of_run_c() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let rows: [__m256; 8] = std::array::from_fn(|r| {
            let v: [f32; 8] = std::array::from_fn(|c| (10 * r + c) as f32);
            // SAFETY: eight values.
            unsafe { _mm256_loadu_ps(v.as_ptr()) }
        });
        // SAFETY: AVX2 was checked.
        let runs = unsafe { transpose_8x8(rows) };
        for (c, run) in runs.iter().enumerate() {
            let mut v = [0.0f32; 8];
            // SAFETY: eight values.
            unsafe { _mm256_storeu_ps(v.as_mut_ptr(), *run) };
            let want: [f32; 8] = std::array::from_fn(|r| (10 * r + c) as f32);
            assert_eq!(v, want, "run {c}");
        }
    }
}
