//! Intel AMX (Sapphire Rapids and later): the int8 product on tile registers.
//!
//! One `tdpbsud` multiplies a `16 × 64` tile of signed weights (16 output channels, 64 values of
//! `k` each) by a `16 × 64`-byte tile of unsigned activations (16 depth units of the
//! [`PanelLayout::Quads8`](crate::kernels::pack_i8::PanelLayout) panel, 16 columns of 4 bytes) into
//! `16 × 16` `i32` sums: 16 384 multiply-adds, 16 times what one 512-bit `vpdpbusd` does. The
//! activation panels are the ones the AVX-512 VNNI kernels read, unchanged; only the weights get a
//! second, tile-major copy ([`TiledWeightsI8`]).
//!
//! Rust has no stable AMX intrinsics, so the instructions are written in `asm!`. The compiler never
//! emits AMX code itself, so tile registers keep their values between the `asm!` statements of one
//! block. Linux hands out the tile state only on request: [`crate::kernels::isa`](mod@crate::kernels::isa) asks once per
//! process (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`) and reports no AMX if the CPU or
//! the kernel says no.

use std::arch::asm;
use std::arch::x86_64::*;

use super::requantize512::requantize16;
use crate::kernels::isa::Isa;
use crate::kernels::types::TileStage;
use crate::kernels::types::NR;
use crate::kernels::pack_tiles::{TiledWeightsI8, TILE_BYTES, TILE_DEPTH, TILE_ROWS};

/// Whether the int8 tables may use AMX: [`Isa::Amx`] is enabled (AMX-TILE, AMX-INT8 and AVX-512
/// F/BW/VL/VNNI on the CPU, the tile state granted by the OS, the cap at `amx`).
pub fn available() -> bool {
    Isa::Amx.enabled()
}

/// The tile configuration: palette 1, every tile used `16 × 64` bytes.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// Loads the tile configuration on this thread; [`release`] ends its use. Everything in between
/// may run [`block`] (with `units` = [`TiledWeightsI8::tile_units`]) or [`block_strided`]: sums `16 × 16`, weights `16` rows of
/// `4·units` bytes, activations `units` rows of 64 bytes (a depth step of `units` depth units).
///
/// # Safety
/// [`Isa::Amx`] must be on the CPU.
///
/// # Panics
/// If `units` is not in `1..=16`.
pub unsafe fn configure(units: usize) {
    assert!((1..=TILE_ROWS).contains(&units), "a tile holds 1 to 16 depth units, not {units}");
    let mut config = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
    for t in 0..8 {
        // tmm0-3: sums; tmm4-5: weights; tmm6-7: activations.
        config.colsb[t] = if t == 4 || t == 5 { 4 * units as u16 } else { TILE_DEPTH as u16 };
        config.rows[t] = if t >= 6 { units as u8 } else { TILE_ROWS as u8 };
    }
    // SAFETY: the caller checked AMX; the configuration is a valid palette-1 layout.
    unsafe { asm!("ldtilecfg [{0}]", in(reg) &config as *const TileConfig, options(nostack, readonly)) };
}

/// Releases the tile state of this thread.
///
/// # Safety
/// [`Isa::Amx`] must be on the CPU.
pub unsafe fn release() {
    // SAFETY: the caller checked AMX.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// The `i32` sums of two row tiles (`i`, `i + 1`) against one or two activation panels:
/// `sums[2·a + b]` is row tile `i + a` times panel `b`, row-major `16 × 16`.
pub type BlockSums = [[i32; TILE_ROWS * NR]; 4];

/// Runs rows tiles `i`, `i + 1` of `w` against the panels starting at `panels[0]` (and
/// `panels[1]` if given), each `w.chunks() · 16` depth units of 16 words, into `sums`.
///
/// # Safety
/// [`configure`]`(w.tile_units())` must have run on this thread, and each panel pointer must have
/// `w.chunks() · 16 · NR` readable `i32` words (words past the panel's depth may hold anything:
/// the weights there are zero).
pub unsafe fn block(w: &TiledWeightsI8, i: usize, panels: [Option<*const i32>; 2], sums: &mut BlockSums) {
    let (a0, a1) = (i, i + 1);
    let stride = TILE_DEPTH;
    debug_assert_eq!(TILE_BYTES, TILE_ROWS * TILE_DEPTH);
    // SAFETY (all asm below): the tiles are configured `16 × 64`; every load reads 16 rows of 64
    // bytes from memory the caller (panels) or `TiledWeightsI8::tile` (weights) vouches for, and the
    // stores write 16 rows of 64 bytes into `sums`.
    unsafe {
        zero_sums();
        for j in 0..w.chunks() {
            asm!("tileloadd tmm4, [{0} + {1}*1]", in(reg) w.tile(a0, j).as_ptr(), in(reg) stride, options(nostack, readonly));
            asm!("tileloadd tmm5, [{0} + {1}*1]", in(reg) w.tile(a1, j).as_ptr(), in(reg) stride, options(nostack, readonly));
            if let Some(p) = panels[0] {
                asm!("tileloadd tmm6, [{0} + {1}*1]", in(reg) p.add(j * TILE_ROWS * NR), in(reg) stride, options(nostack, readonly));
                asm!("tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm2, tmm5, tmm6", options(nostack, nomem));
            }
            if let Some(p) = panels[1] {
                asm!("tileloadd tmm7, [{0} + {1}*1]", in(reg) p.add(j * TILE_ROWS * NR), in(reg) stride, options(nostack, readonly));
                asm!("tdpbsud tmm1, tmm4, tmm7", "tdpbsud tmm3, tmm5, tmm7", options(nostack, nomem));
            }
        }
        store_sums(sums);
    }
}

/// [`block`] with activation tiles read in place: step `j`'s tile for panel `k` starts at
/// `columns[k] + steps[j]` and its rows lie `stride` bytes apart (the channel-quad planes of
/// [`crate::kernels::conv_quads`]).
///
/// # Safety
/// [`configure`] must have run on this thread (with `units` depth units per step);
/// `steps.len() == w.chunks()`; every tile read (`units` rows of 64 bytes from
/// `columns[k] + steps[j]`, `stride` apart) must be readable.
pub unsafe fn block_strided(w: &TiledWeightsI8, i: usize, columns: [Option<*const u8>; 2], steps: &[usize], stride: usize, sums: &mut BlockSums) {
    debug_assert_eq!(steps.len(), w.chunks());
    // SAFETY (all asm below): as for `block`, with the activation rows the caller vouches for.
    unsafe {
        zero_sums();
        for (j, &step) in steps.iter().enumerate() {
            asm!("tileloadd tmm4, [{0} + {1}*1]", in(reg) w.tile(i, j).as_ptr(), in(reg) TILE_DEPTH, options(nostack, readonly));
            asm!("tileloadd tmm5, [{0} + {1}*1]", in(reg) w.tile(i + 1, j).as_ptr(), in(reg) TILE_DEPTH, options(nostack, readonly));
            if let Some(p) = columns[0] {
                asm!("tileloadd tmm6, [{0} + {1}*1]", in(reg) p.add(step), in(reg) stride, options(nostack, readonly));
                asm!("tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm2, tmm5, tmm6", options(nostack, nomem));
            }
            if let Some(p) = columns[1] {
                asm!("tileloadd tmm7, [{0} + {1}*1]", in(reg) p.add(step), in(reg) stride, options(nostack, readonly));
                asm!("tdpbsud tmm1, tmm4, tmm7", "tdpbsud tmm3, tmm5, tmm7", options(nostack, nomem));
            }
        }
        store_sums(sums);
    }
}

/// Zeroes the four sum tiles (tmm0-3).
///
/// # Safety
/// [`configure`] must have run on this thread.
#[inline(always)]
unsafe fn zero_sums() {
    // SAFETY: the caller configured the tiles.
    unsafe { asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem)) };
}

/// Stores the four sum tiles (tmm0-3) into `sums`, 64 bytes per row.
///
/// # Safety
/// [`configure`] must have run on this thread.
#[inline(always)]
unsafe fn store_sums(sums: &mut BlockSums) {
    let row_bytes = NR * 4;
    // SAFETY: the caller configured the tiles; each store writes the 16 rows of 64 bytes of one
    // `[i32; 256]` of `sums`.
    unsafe {
        asm!("tilestored [{0} + {1}*1], tmm0", in(reg) sums[0].as_mut_ptr(), in(reg) row_bytes, options(nostack));
        asm!("tilestored [{0} + {1}*1], tmm1", in(reg) sums[1].as_mut_ptr(), in(reg) row_bytes, options(nostack));
        asm!("tilestored [{0} + {1}*1], tmm2", in(reg) sums[2].as_mut_ptr(), in(reg) row_bytes, options(nostack));
        asm!("tilestored [{0} + {1}*1], tmm3", in(reg) sums[3].as_mut_ptr(), in(reg) row_bytes, options(nostack));
    }
}

/// Where a block's rows go: output row `c` of the product starts at `out + c · row_stride`, and
/// `runs[k]` places the 16 columns of panel `k` in a row: `(first lane, offset, length)`.
pub struct BlockPlace<'a> {
    /// The product's first output element.
    pub out: *mut u8,
    /// Elements from one output row to the next.
    pub row_stride: usize,
    /// The runs of each of the block's two panels within a row.
    pub runs: [&'a [(usize, usize, usize)]; 2],
}

/// The sums of one [`block`] through the output stage, stored as bytes: rows `first_channel ..
/// channels` (at most 32 of them) of `count` panels; masked stores, no copy through memory.
///
/// # Safety
/// [`Isa::Amx`] must be on the CPU (which implies AVX-512 F/BW/VL). For every stored row `c` and
/// run `(lane, offset, length)`: `lane + length <= 16`, and `out + c · row_stride + offset ..` is
/// writable for `length` bytes and written by no other thread.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn store_block(sums: &BlockSums, count: usize, stage: &TileStage<'_>, first_channel: usize, channels: usize, place: &BlockPlace<'_>) {
    for a in 0..2 {
        for r in 0..TILE_ROWS {
            let channel = first_channel + a * TILE_ROWS + r;
            if channel >= channels {
                return;
            }
            let row = place.out.wrapping_add(channel * place.row_stride);
            for (k, runs) in place.runs.iter().enumerate().take(count) {
                // SAFETY: 16 readable i32 of the tile row.
                let acc = unsafe { _mm512_loadu_si512(sums[2 * a + k][r * NR..].as_ptr().cast()) };
                let bytes = _mm512_cvtepi32_epi8(requantize16(acc, &stage.channels[channel], stage.zero_point, stage.clamp_min));
                for &(lane, offset, len) in runs.iter() {
                    // Lane `l` of the run goes to `row + offset + l − lane`: store from `lane` lanes
                    // back, with the lanes outside the run masked off (never touched).
                    let mask = (((1u32 << len) - 1) << lane) as __mmask16;
                    let base = row.wrapping_add(offset).wrapping_sub(lane);
                    // SAFETY: the unmasked lanes land on the run's bytes, writable by the contract.
                    unsafe { _mm_mask_storeu_epi8(base.cast(), mask, bytes) };
                }
            }
        }
    }
}
