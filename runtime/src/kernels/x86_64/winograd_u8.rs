//! The AVX2 kernels of [`WinogradU8`]: the input transform on 16 channels per vector, the `6 × 16`
//! tile of the sixteen products (`vpmaddwd` + `vpaddd`: 16 products of `i16` pairs per instruction,
//! as the direct conv's 36 per 2×2 outputs become 16), and the output transform with each lane its
//! own channel's output stage ([`requantize8_lanes`]). Bit for bit [`WinogradU8::forward_generic`].
//!
//! Work is split into tasks of (a chunk of tiles, a share of the output channels): with many chunks
//! each task takes all the channels of its chunk; with few (small maps), each thread takes all the
//! chunks and a share of the channels, transforming the input tiles again (a few percent of the
//! products on the wide layers where that happens).

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::requantize::requantize8_lanes;
use crate::kernels::types::LaneStages8;
use crate::kernels::team::{for_each_chunk, Team};
use crate::kernels::winograd_u8::{WinogradU8, OC_BLOCK, XI};
use crate::kernels::OutPtr;

/// Tiles per row block of the tile kernel.
const TILE_ROWS: usize = 6;
/// Bytes of transformed input tiles a task keeps: about half an L2.
const TILE_BYTES: usize = 1 << 20;
/// Groups of [`TILE_ROWS`] tiles that read each weight panel in turn (from L1 after the first).
const GROUPS: usize = 4;

thread_local! {
    /// The padded input of the conv this thread calls.
    static PADDED: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
    /// The transformed tiles of this thread's task, `[ξ][tiles][C']`.
    static TILES: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// [`WinogradU8::forward`] (buffers already checked).
///
/// # Safety
/// AVX2 and FMA must be enabled.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn forward(conv: &WinogradU8, x: &[u8], out: &mut [u8], parallel: bool) {
    let g = conv.geometry();
    let pc = conv.padded_channels();
    let tiles = g.tiles.0 * g.tiles.1;
    if tiles == 0 || conv.out_channels() == 0 {
        return;
    }
    let threads = if parallel { Team::global().threads() } else { 1 };
    PADDED.with_borrow_mut(|padded| {
        let row = g.padded.1 * pc;
        padded.resize(g.padded.0 * row, 0);
        let rows_per_task = g.padded.0.div_ceil(threads);
        for_each_chunk(padded, rows_per_task * row, threads > 1, |i, rows| conv.pad_rows_into(x, i * rows_per_task, rows));
        let padded = &padded[..];
        let per_chunk = (TILE_BYTES / (XI * pc * 2)).max(TILE_ROWS);
        let chunks = tiles.div_ceil(per_chunk);
        let per_chunk = tiles.div_ceil(chunks).next_multiple_of(TILE_ROWS);
        let chunks = tiles.div_ceil(per_chunk);
        let blocks = conv.out_channels().div_ceil(OC_BLOCK);
        let parts = if chunks >= 4 * threads { 1 } else { threads.min(blocks) };
        let out = OutPtr::new(out);
        let job = |tasks: std::ops::Range<usize>| {
            for task in tasks {
                let (chunk, part) = (task / parts, task % parts);
                let first = chunk * per_chunk;
                let tile_range = first..(first + per_chunk).min(tiles);
                // SAFETY: AVX2 and FMA are enabled (this function's contract); tasks write disjoint
                // (tile, channel) outputs.
                unsafe { run_task(conv, padded, tile_range, part * blocks / parts..(part + 1) * blocks / parts, &out) };
            }
        };
        if threads > 1 {
            Team::global().run(chunks * parts, &job);
        } else {
            job(0..chunks * parts);
        }
    });
}

/// The tiles `tile_range` (transformed into this thread's buffer) against the output channel blocks
/// `blocks`, written to `out`.
#[target_feature(enable = "avx2,fma")]
unsafe fn run_task(conv: &WinogradU8, padded: &[i16], tile_range: std::ops::Range<usize>, blocks: std::ops::Range<usize>, out: &OutPtr<'_, u8>) {
    let g = conv.geometry();
    let pc = conv.padded_channels();
    let pairs = pc / 2;
    let n = tile_range.len();
    let rows = n.next_multiple_of(TILE_ROWS);
    let o = conv.out_channels();
    let (zp, lo) = conv.output_clamp();
    TILES.with_borrow_mut(|u| {
        u.resize(XI * rows * pc, 0);
        for k in 0..rows {
            let dst = u.as_mut_ptr().add(k * pc);
            if k < n {
                let t = tile_range.start + k;
                let (ty, tx) = (t / g.tiles.1, t % g.tiles.1);
                let src = padded.as_ptr().add((2 * ty * g.padded.1 + 2 * tx) * pc);
                transform_tile(src, g.padded.1 * pc, pc, dst, rows * pc);
            } else {
                for xi in 0..XI {
                    std::ptr::write_bytes(dst.add(xi * rows * pc), 0, pc);
                }
            }
        }
        let mut m = [[[[0i32; OC_BLOCK]; TILE_ROWS]; XI]; GROUPS];
        for b in blocks {
            let stages = [LaneStages8::new(&conv.channels()[(b * OC_BLOCK).min(o)..(b * OC_BLOCK + 8).min(o)]), LaneStages8::new(&conv.channels()[(b * OC_BLOCK + 8).min(o)..(b * OC_BLOCK + OC_BLOCK).min(o)])];
            let panels = conv.weights().as_ptr().add(b * XI * pairs * OC_BLOCK * 2);
            for first in (0..rows).step_by(TILE_ROWS * GROUPS) {
                let groups = ((rows - first) / TILE_ROWS).min(GROUPS);
                // Each weight panel once from L2 for up to GROUPS groups of tiles.
                for xi in 0..XI {
                    let panel = panels.add(xi * pairs * OC_BLOCK * 2);
                    for (k, m) in m.iter_mut().enumerate().take(groups) {
                        tile_6x16(u.as_ptr().add((xi * rows + first + k * TILE_ROWS) * pc), pc, panel, pairs, &mut m[xi]);
                    }
                }
                for r in 0..(TILE_ROWS * groups).min(n.saturating_sub(first)) {
                    let t = tile_range.start + first + r;
                    let (ty, tx) = (t / g.tiles.1, t % g.tiles.1);
                    for (half, stage) in stages.iter().enumerate() {
                        let o0 = b * OC_BLOCK + half * 8;
                        if o0 >= o {
                            break;
                        }
                        let y = output_transform(&m[r / TILE_ROWS], r % TILE_ROWS, half * 8, stage, zp, lo);
                        for (i, row) in y.iter().enumerate() {
                            let oy = 2 * ty + i;
                            if oy >= g.out.0 {
                                continue;
                            }
                            for (j, lanes) in row.iter().enumerate() {
                                let ox = 2 * tx + j;
                                if ox >= g.out.1 {
                                    continue;
                                }
                                for (l, &v) in lanes.iter().enumerate().take(o - o0) {
                                    // SAFETY: inside the output (o0 + l < O, oy < OH, ox < OW); no
                                    // other task writes this (tile, channel).
                                    *out.ptr().add(((o0 + l) * g.out.0 + oy) * g.out.1 + ox) = v as u8;
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

/// `Bᵀ d B` of one tile on 16 channels per vector: `src` is the tile's top-left corner in the padded
/// input (rows `row` apart, `pc` channels per position), `dst` its slot in `[ξ][tiles][C']`
/// (`xi_stride` apart).
#[target_feature(enable = "avx2,fma")]
unsafe fn transform_tile(src: *const i16, row: usize, pc: usize, dst: *mut i16, xi_stride: usize) {
    for c0 in (0..pc).step_by(16) {
        let ld = |i: usize, k: usize| _mm256_loadu_si256(src.add(i * row + k * pc + c0).cast());
        // Bᵀ d, column by column.
        let mut t = [[_mm256_setzero_si256(); 4]; 4];
        for k in 0..4 {
            let (d0, d1, d2, d3) = (ld(0, k), ld(1, k), ld(2, k), ld(3, k));
            t[0][k] = _mm256_sub_epi16(d0, d2);
            t[1][k] = _mm256_add_epi16(d1, d2);
            t[2][k] = _mm256_sub_epi16(d2, d1);
            t[3][k] = _mm256_sub_epi16(d1, d3);
        }
        // (·) B, row by row.
        for (i, t) in t.iter().enumerate() {
            let u = [
                _mm256_sub_epi16(t[0], t[2]),
                _mm256_add_epi16(t[1], t[2]),
                _mm256_sub_epi16(t[2], t[1]),
                _mm256_sub_epi16(t[1], t[3]),
            ];
            for (j, &v) in u.iter().enumerate() {
                _mm256_storeu_si256(dst.add((4 * i + j) * xi_stride + c0).cast(), v);
            }
        }
    }
}

/// `m[r][o] = Σ_c u[r][c]·v[c][o]` for 6 tiles (`u`, rows `pc` apart) and one panel of 16 output
/// channels (`v`: `[pairs][16][2]`), over `pairs` channel pairs.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_6x16(u: *const i16, pc: usize, v: *const i16, pairs: usize, m: &mut [[i32; OC_BLOCK]; TILE_ROWS]) {
    // Fully unrolled by the compiler: the 12 accumulators stay in registers.
    let mut acc = [[_mm256_setzero_si256(); 2]; TILE_ROWS];
    for p in 0..pairs {
        let v0 = _mm256_loadu_si256(v.add(p * 32).cast());
        let v1 = _mm256_loadu_si256(v.add(p * 32 + 16).cast());
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_set1_epi32(u.add(r * pc + 2 * p).cast::<i32>().read_unaligned());
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, v0));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, v1));
        }
    }
    for (row, acc) in m.iter_mut().zip(acc) {
        _mm256_storeu_si256(row.as_mut_ptr().cast(), acc[0]);
        _mm256_storeu_si256(row.as_mut_ptr().add(8).cast(), acc[1]);
    }
}

/// `Aᵀ m A / 4` of tile `r` on the 8 channels from `o0` of the block, through each lane's stage:
/// `[i][j][lane]` outputs as `i32` in `0..=255`.
#[target_feature(enable = "avx2,fma")]
unsafe fn output_transform(m: &[[[i32; OC_BLOCK]; TILE_ROWS]; XI], r: usize, o0: usize, stage: &LaneStages8, zp: u8, lo: u8) -> [[[i32; 8]; 2]; 2] {
    let mv: [__m256i; XI] = std::array::from_fn(|xi| _mm256_loadu_si256(m[xi][r].as_ptr().add(o0).cast()));
    let (add, sub) = (|a, b| _mm256_add_epi32(a, b), |a, b| _mm256_sub_epi32(a, b));
    let s0: [__m256i; 4] = std::array::from_fn(|k| add(add(mv[k], mv[4 + k]), mv[8 + k]));
    let s1: [__m256i; 4] = std::array::from_fn(|k| sub(sub(mv[4 + k], mv[8 + k]), mv[12 + k]));
    let y = [
        [add(add(s0[0], s0[1]), s0[2]), sub(sub(s0[1], s0[2]), s0[3])],
        [add(add(s1[0], s1[1]), s1[2]), sub(sub(s1[1], s1[2]), s1[3])],
    ];
    let mut result = [[[0i32; 8]; 2]; 2];
    for (dst, src) in result.iter_mut().zip(y) {
        for (d, v) in dst.iter_mut().zip(src) {
            let q = requantize8_lanes(_mm256_srai_epi32::<2>(v), stage, zp, lo);
            _mm256_storeu_si256(d.as_mut_ptr().cast(), q);
        }
    }
    result
}
