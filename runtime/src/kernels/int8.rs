//! The int8 GEMM and GEMV: a table of kernels chosen at run time, and the driver that runs them
//! over packed operands, optionally across threads, with the output stage fused.
//!
//! Tables, portable first ([`Int8Kernels::available`]); each SIMD one has a portable twin on the
//! same operand layout and tile, and [`Int8Kernels::best`] is the last one the CPU runs:
//! | table | layout | tile | inner instruction |
//! |---|---|---|---|
//! | `generic_mmm_u8i8_6x16` | `i16` pairs | `6 × 16` | plain Rust |
//! | `generic_mmm_u8i8q4_6x16` | byte quads | `6 × 16` | plain Rust |
//! | `generic_mmm_u8i8q4_6x32` | byte quads | `6 × 32` + `6 × 16` | plain Rust |
//! | `generic_mmm_u8i8q4s_6x16` | byte quads, unsafe pairs split off | `6 × 16` | plain Rust, pairs saturating as `vpmaddubsw` |
//! | `avx2_mmm_u8i8_6x16` | `i16` pairs | `6 × 16` | `vpmaddwd` + `vpaddd` (exact; see [`super::x86_64::gemm_i8`]) |
//! | `avx2_mmm_u8i8q4s_6x16` | byte quads, unsafe pairs split off | `6 × 16` | `vpmaddubsw` + `vpmaddwd` (ones) + `vpaddd` (exact by the split, see [`super::pack_split`]); weights with too many unsafe pairs on `avx2_mmm_u8i8_6x16` |
//! | `avxvnni_mmm_u8i8q4_6x16` | byte quads | `6 × 16` | 256-bit `vpdpbusd` (exact, accumulating) |
//! | `avx512vnni_mmm_u8i8q4_6x32` | byte quads | `6 × 32` + `6 × 16` | 512-bit `vpdpbusd` (see [`super::x86_64::gemm_i8_avx512`]) |
//! | `amx_mmm_u8i8q4_32x32` | byte quads + tile-order weights | `32 × 32` | AMX `tdpbsud` for products to `u8` (see [`super::x86_64::gemm_i8_amx`]); the rest as the AVX-512 table |
//! | `neon_mmm_u8i8q4_6x16` (aarch64) | byte quads | `6 × 16` | `smull` + `sadalp` on `x − 128` (exact; see `kernels::aarch64::gemm_i8`) |
//! | `dotprod_mmm_u8i8q4_6x16` (aarch64) | byte quads | `6 × 16` | `sdot` by element on `x − 128` (exact, accumulating) |
//!
//! A `6 × 32` tile is two adjacent activation panels against one weight panel ([`PairTiles`]): the
//! driver runs it on pairs of column panels and the `6 × 16` tile on an odd last one.
//!
//! Convolutions have forms of their own beside im2col + these tiles: the direct kernel on the
//! AVX-512 VNNI table ([`Int8Kernels::direct_conv`]), channel-quad tiles on AMX
//! ([`Int8Kernels::quad_conv`]), Winograd on the AVX2 tables ([`Int8Kernels::winograd_conv`]), and
//! the shallow kernel for a network's first conv ([`Int8Kernels::shallow_conv`]).
//!
//! ```
//! use fasterai_runtime::kernels::int8::{Int8Kernels, Split};
//! let kernels = Int8Kernels::best();
//! let a = kernels.pack_weights(&[1, -2, 3, 4, 5, -6], 2, 3).unwrap(); // 2 × 3
//! let mut b = kernels.activations_for(&a);
//! b.pack(&[1, 2, 3, 4, 5, 6], 3, 2).unwrap(); // 3 × 2
//! let mut c = vec![0; 4];
//! kernels.gemm_i32(&a, &b, &mut c, Split::Sequential).unwrap();
//! assert_eq!(c, vec![1 - 6 + 15, 2 - 8 + 18, 4 + 15 - 30, 8 + 20 - 36]);
//! ```

use super::conv_u8_shallow::ShallowConvU8;
pub(crate) use super::int8_sink::{Columns, Placement, Sink};
use super::team::{for_each_chunk, Team};

use super::generic::gemv_i8::generic_gemv_u8i8;
use super::generic::gemm_i8::{
    generic_pair_i32_q4_6x32, generic_pair_u8_q4_6x32, generic_tile_i32_6x16, generic_tile_i32_q4_6x16, generic_tile_i32_q4s_6x16,
    generic_tile_u8_6x16, generic_tile_u8_q4_6x16, generic_tile_u8_q4s_6x16,
};
use super::pack_i8::{PackedActivationsU8, PackedRowsI8, PackedWeightsI8, PanelLayout, GEMV_ALIGN, MR, NR};
#[cfg(target_arch = "x86_64")]
use super::pack_tiles::TILE_ROWS;
use super::conv_quads::QuadConv;
use super::isa::Isa;
use super::generic::im2col_u8::ConvShape;
use crate::quant::{OutputStage, QuantError};
pub use super::types::{
    Fallback, GemvFn, PairI32Fn, PairTiles, PairU8Fn, Split, TileI32Fn, TileStage, TileU8Fn, SEQUENTIAL_BELOW_MACS,
};

/// Matrix-vector products with at least this many weight bytes split their rows over the team.
const PARALLEL_GEMV_BYTES: usize = 1 << 18;

/// Narrowest conv (input and output channels) the AVX2 tables run by Winograd
/// ([`Int8Kernels::winograd_conv`]).
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// Longest reduction the kernels accept: `|Σ u8·i8| ≤ 2³⁰` for any data, so adding an `i32` bias of
/// at most `2³⁰` (as [`OutputStage`] guarantees) cannot overflow either.
pub const MAX_DEPTH: usize = (1 << 30) / (255 * 127);

fn check_depth(depth: usize) -> Result<(), QuantError> {
    if depth > MAX_DEPTH {
        return Err(QuantError::DepthTooLarge { depth, max: MAX_DEPTH });
    }
    Ok(())
}

/// The int8 kernels in use: every slot filled by a portable kernel, overwritten by faster ones the
/// CPU supports.
#[derive(Debug, Clone, Copy)]
pub struct Int8Kernels {
    /// Name of the tile kernels (`<isa>_<family>_<dtype>_<tile>`).
    pub name: &'static str,
    /// The instruction tier the tiles run on; chooses the conv forms the table has
    /// ([`Self::shallow_conv`], [`Self::winograd_conv`]).
    pub isa: Isa,
    /// The operand layout the tiles read.
    pub layout: PanelLayout,
    /// Tile to `i32`.
    pub tile_i32: TileI32Fn,
    /// Tile to `u8` through the output stage.
    pub tile_u8: TileU8Fn,
    /// The `6 × 32` tiles the driver prefers on pairs of column panels, if these kernels have them.
    pub pair: Option<PairTiles>,
    /// Matrix-vector product (batch-1 Linear layers).
    pub gemv: GemvFn,
    /// Set for tiles whose byte pairs saturate (`vpmaddubsw`): [`Self::pack_weights`] splits
    /// unsafe pairs off ([`super::pack_split`]), or, when there are too many, packs the weights
    /// for these exact tiles instead.
    pub saturating: Option<Fallback>,
}

impl Int8Kernels {
    /// The portable kernels on `i16` pairs (the layout of the AVX2 kernels).
    pub fn generic() -> Self {
        Self {
            name: "generic_mmm_u8i8_6x16",
            isa: Isa::Portable,
            layout: PanelLayout::Pairs16,
            tile_i32: generic_tile_i32_6x16,
            tile_u8: generic_tile_u8_6x16,
            pair: None,
            gemv: generic_gemv_u8i8,
            saturating: None,
        }
    }

    /// The portable kernels on byte quads with unsafe pairs split off, saturating as `vpmaddubsw`
    /// (the layout of the AVX2 byte-quad kernels), on `i16` pairs for weights with many unsafe pairs.
    pub fn generic_quads_split() -> Self {
        let pairs = Self::generic();
        Self {
            name: "generic_mmm_u8i8q4s_6x16",
            layout: PanelLayout::Quads8,
            tile_i32: generic_tile_i32_q4s_6x16,
            tile_u8: generic_tile_u8_q4s_6x16,
            saturating: Some(Fallback { layout: pairs.layout, tile_i32: pairs.tile_i32, tile_u8: pairs.tile_u8 }),
            ..pairs
        }
    }

    /// The portable kernels on byte quads (the layout of the AVX-VNNI kernels).
    pub fn generic_quads() -> Self {
        Self {
            name: "generic_mmm_u8i8q4_6x16",
            isa: Isa::Portable,
            layout: PanelLayout::Quads8,
            tile_i32: generic_tile_i32_q4_6x16,
            tile_u8: generic_tile_u8_q4_6x16,
            pair: None,
            gemv: generic_gemv_u8i8,
            saturating: None,
        }
    }

    /// The portable kernels on byte quads with `6 × 32` tiles (the driver path of the AVX-512 kernels).
    pub fn generic_quads_pairs() -> Self {
        Self {
            name: "generic_mmm_u8i8q4_6x32",
            pair: Some(PairTiles { tile_i32: generic_pair_i32_q4_6x32, tile_u8: generic_pair_u8_q4_6x32 }),
            ..Self::generic_quads()
        }
    }

    /// Every table this CPU runs, portable first, fastest last.
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut all = vec![Self::generic(), Self::generic_quads_split(), Self::generic_quads(), Self::generic_quads_pairs()];
        #[cfg(target_arch = "x86_64")]
        {
            use super::x86_64::{gemm_i8, gemm_i8_amx, gemm_i8_avx512, gemm_i8_maddubs, gemm_i8_vnni, gemv_i8};
            if gemm_i8::available() {
                let pairs = Self {
                    name: "avx2_mmm_u8i8_6x16",
                    isa: Isa::Avx2,
                    layout: PanelLayout::Pairs16,
                    tile_i32: gemm_i8::avx2_tile_i32_6x16,
                    tile_u8: gemm_i8::avx2_tile_u8_6x16,
                    pair: None,
                    gemv: gemv_i8::avx2_gemv_u8i8,
                    saturating: None,
                };
                all.push(pairs);
                if gemm_i8_maddubs::available() {
                    all.push(Self {
                        name: "avx2_mmm_u8i8q4s_6x16",
                        layout: PanelLayout::Quads8,
                        tile_i32: gemm_i8_maddubs::avx2_tile_i32_q4s_6x16,
                        tile_u8: gemm_i8_maddubs::avx2_tile_u8_q4s_6x16,
                        saturating: Some(Fallback { layout: pairs.layout, tile_i32: pairs.tile_i32, tile_u8: pairs.tile_u8 }),
                        ..pairs
                    });
                }
            }
            if gemm_i8_vnni::available() {
                all.push(Self {
                    name: "avxvnni_mmm_u8i8q4_6x16",
                    isa: Isa::AvxVnni,
                    layout: PanelLayout::Quads8,
                    tile_i32: gemm_i8_vnni::avxvnni_tile_i32_6x16,
                    tile_u8: gemm_i8_vnni::avxvnni_tile_u8_6x16,
                    pair: None,
                    gemv: gemv_i8::avxvnni_gemv_u8i8,
                    saturating: None,
                });
            }
            if gemm_i8_avx512::available() {
                all.push(Self {
                    name: "avx512vnni_mmm_u8i8q4_6x32",
                    isa: Isa::Avx512Vnni,
                    layout: PanelLayout::Quads8,
                    tile_i32: gemm_i8_avx512::avx512vnni_tile_i32_6x16,
                    tile_u8: gemm_i8_avx512::avx512vnni_tile_u8_6x16,
                    pair: Some(PairTiles {
                        tile_i32: gemm_i8_avx512::avx512vnni_pair_i32_6x32,
                        tile_u8: gemm_i8_avx512::avx512vnni_pair_u8_6x32,
                    }),
                    // The 512-bit GEMV is memory-bound and measured no faster than the AVX-VNNI one
                    // (0.95–1.01×): it serves the AVX-512 CPUs without AVX-VNNI.
                    gemv: if gemm_i8_vnni::available() { gemv_i8::avxvnni_gemv_u8i8 } else { gemv_i8::avx512vnni_gemv_u8i8 },
                    saturating: None,
                });
            }
            if gemm_i8_amx::available() {
                // The AVX-512 table with products to `u8` on AMX tiles (the rest stays on VNNI).
                let vnni = *all.last().expect("AMX CPUs have AVX-512 VNNI");
                all.push(Self { name: "amx_mmm_u8i8q4_32x32", isa: Isa::Amx, ..vnni });
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            use super::aarch64::gemm_i8;
            let quads = Self::generic_quads();
            if gemm_i8::neon_available() {
                all.push(Self {
                    name: "neon_mmm_u8i8q4_6x16",
                    isa: Isa::Neon,
                    tile_i32: gemm_i8::neon_tile_i32_q4_6x16,
                    tile_u8: gemm_i8::neon_tile_u8_q4_6x16,
                    gemv: super::aarch64::gemv_i8::neon_gemv_u8i8,
                    ..quads
                });
            }
            if gemm_i8::dotprod_available() {
                all.push(Self {
                    name: "dotprod_mmm_u8i8q4_6x16",
                    isa: Isa::Dotprod,
                    tile_i32: gemm_i8::dotprod_tile_i32_q4_6x16,
                    tile_u8: gemm_i8::dotprod_tile_u8_q4_6x16,
                    gemv: super::aarch64::gemv_i8::dotprod_gemv_u8i8,
                    ..quads
                });
            }
        }
        all
    }

    /// The fastest kernels this CPU runs: AVX-512 VNNI, else AVX-VNNI, else AVX2 (`vpmaddubsw`),
    /// else portable (on aarch64: the dot product, else NEON, else portable).
    pub fn best() -> Self {
        *Self::available().last().expect("the generic kernels are always available")
    }

    /// Packs a row-major `[rows, depth]` weight matrix for these kernels (with a tile-order copy
    /// for [`Self::amx`] kernels; split, or on the fallback layout, for [`Self::saturating`] ones).
    /// Pack the activations of a product with [`Self::activations_for`] these weights.
    pub fn pack_weights(&self, values: &[i8], rows: usize, depth: usize) -> Result<PackedWeightsI8, QuantError> {
        if let Some(fallback) = self.saturating {
            return match super::pack_split::pack_split(values, rows, depth)? {
                Some(split) => Ok(split),
                None => PackedWeightsI8::new(values, rows, depth, fallback.layout),
            };
        }
        if self.amx() {
            PackedWeightsI8::new_with_tiles(values, rows, depth, self.layout)
        } else {
            PackedWeightsI8::new(values, rows, depth, self.layout)
        }
    }

    /// The channel-quad form of a stride-1 conv's weights (`[rows, C·K·K]`) for [`Self::amx`]
    /// kernels, read straight from the input without a patch matrix
    /// ([`super::conv_quads`]); `None` for other kernels or channel counts.
    pub fn quad_conv(&self, shape: ConvShape, values: &[i8], rows: usize) -> Option<QuadConv> {
        if self.amx() {
            QuadConv::new(shape, values, rows)
        } else {
            None
        }
    }

    /// Products to `u8` run on AMX tiles (`16 × 64` weights × `16 × 16` sums per instruction)
    /// when the weights carry a tile-order copy, which [`Self::pack_weights`] then builds: the
    /// [`Isa::Amx`] table.
    pub fn amx(&self) -> bool {
        self.isa == Isa::Amx
    }

    /// A shallow stride-1 conv's weights (`[rows, C·K·K]`, depth at most
    /// [`MAX_DEPTH`](super::conv_u8_shallow::MAX_DEPTH)) for the direct kernel of
    /// [`super::conv_u8_shallow`]: its AVX-512 VNNI form on the AVX-512 VNNI and AMX tables, its
    /// AVX2 one on the AVX2, AVX-VNNI and AVX-512 tables; `None` for other kernels or convs.
    pub fn shallow_conv(&self, shape: ConvShape, values: &[i8], rows: usize) -> Option<ShallowConvU8> {
        if matches!(self.isa, Isa::Avx512Vnni | Isa::Amx | Isa::Avx2 | Isa::AvxVnni | Isa::Avx512) {
            ShallowConvU8::new(shape, values, rows)
        } else {
            None
        }
    }

    /// A conv's weights (`[rows, C·K·K]`, any stride) and output stage for the direct AVX-512 VNNI
    /// kernel ([`super::conv_u8_direct`]), on the AVX-512 VNNI table (AMX has its own conv paths),
    /// for convs over at least 16 channels; `None` otherwise.
    pub fn direct_conv(&self, shape: ConvShape, values: &[i8], rows: usize, stage: &OutputStage) -> Option<super::conv_u8_direct::DirectConvU8> {
        if self.isa == Isa::Avx512Vnni {
            super::conv_u8_direct::DirectConvU8::new(shape, values, rows, stage)
        } else {
            None
        }
    }

    /// A 3×3 stride-1 conv's weights (`[rows, C·3·3]`) in the exact integer Winograd form
    /// ([`super::WinogradU8`]) for the AVX2 tables, whose bytes multiply at only twice the rate
    /// of floats, when the conv is wide enough for the transforms to pay; `None` otherwise.
    pub fn winograd_conv(&self, shape: ConvShape, values: &[i8], rows: usize, stage: &OutputStage, zero_point: u8) -> Option<super::WinogradU8> {
        let wide = shape.channels >= WINOGRAD_MIN_CHANNELS && rows >= WINOGRAD_MIN_CHANNELS;
        if self.isa == Isa::Avx2 && super::WinogradU8::available() && shape.kernel == 3 && shape.stride == 1 && wide {
            super::WinogradU8::new(shape, values, rows, stage, zero_point).ok()
        } else {
            None
        }
    }

    /// An empty activation buffer for products with `weights` packed by these kernels: on the
    /// weights' layout (which [`Self::saturating`] kernels choose per matrix).
    pub fn activations_for(&self, weights: &PackedWeightsI8) -> PackedActivationsU8 {
        match self.saturating {
            Some(fallback) if weights.layout() == fallback.layout => PackedActivationsU8::new(fallback.layout),
            _ => self.activations(),
        }
    }

    /// An empty activation buffer on these kernels' own layout (panels of whole tiles for
    /// [`Self::amx`]); [`Self::activations_for`] gives the one a packed weight matrix needs.
    pub fn activations(&self) -> PackedActivationsU8 {
        if self.amx() {
            PackedActivationsU8::new_for_tiles(self.layout)
        } else {
            PackedActivationsU8::new(self.layout)
        }
    }

    /// `out[m, n] = a · b` in `i32` (row-major `m × n`).
    pub fn gemm_i32(&self, a: &PackedWeightsI8, b: &PackedActivationsU8, out: &mut [i32], split: Split) -> Result<(), QuantError> {
        self.check(a, b, out.len())?;
        let tiles = self.tiles_for(a);
        let one = |p: usize, q: usize, dst: &mut [i32; MR * NR]| (tiles.tile_i32)(a.panel(p), b.panel(q), dst);
        let two = self.pair.filter(|_| tiles.layout == self.layout).map(|pair| {
            move |p: usize, q: usize, dst: &mut [[i32; MR * NR]; 2]| (pair.tile_i32)(a.panel(p), b.panel(q), b.panel(q + 1), dst)
        });
        let sink = Sink::new(out, a.rows(), b.cols(), Columns::Dense)?;
        drive(a.rows(), b.cols(), &sink, split.for_work(a.rows() * b.cols() * a.depth()), Tiles { one, two });
        Ok(())
    }

    /// `out[m, n] = stage(a · b)` in `u8`: bias, fixed-point requantization, ReLU clamp, fused per tile.
    pub fn gemm_u8(
        &self,
        a: &PackedWeightsI8,
        b: &PackedActivationsU8,
        stage: &OutputStage,
        out: &mut [u8],
        split: Split,
    ) -> Result<(), QuantError> {
        self.gemm_u8_into(a, b, stage, out, Columns::Dense, split)
    }

    /// [`Self::gemm_u8`] with the product's columns placed in `out` by `columns`.
    pub(crate) fn gemm_u8_into(
        &self,
        a: &PackedWeightsI8,
        b: &PackedActivationsU8,
        stage: &OutputStage,
        out: &mut [u8],
        columns: Columns,
        split: Split,
    ) -> Result<(), QuantError> {
        self.check(a, b, a.rows() * b.cols())?; // the operands; `Sink::new` checks `out` against `columns`
        if stage.channels.len() != a.rows() {
            return Err(QuantError::LengthMismatch { what: "output stage", expected: a.rows(), found: stage.channels.len() });
        }
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(tiles), true) = (self.amx(), a.tiles(), b.unit_multiple() == TILE_ROWS) {
            let sink = Sink::new(out, a.rows(), b.cols(), columns)?;
            let stage = TileStage::whole(stage);
            // SAFETY: `isa` is `Amx` only in the table `available` builds after checking AMX.
            unsafe { super::int8_amx::gemm_u8(tiles, a.rows(), b, stage, &sink, split) };
            return Ok(());
        }
        let tile_stage = |p: usize| TileStage::panel(stage, p);
        let tiles = self.tiles_for(a);
        let one = |p: usize, q: usize, dst: &mut [u8; MR * NR]| (tiles.tile_u8)(a.panel(p), b.panel(q), tile_stage(p), dst);
        let two = self.pair.filter(|_| tiles.layout == self.layout).map(|pair| {
            move |p: usize, q: usize, dst: &mut [[u8; MR * NR]; 2]| {
                (pair.tile_u8)(a.panel(p), b.panel(q), b.panel(q + 1), tile_stage(p), dst)
            }
        });
        let sink = Sink::new(out, a.rows(), b.cols(), columns)?;
        drive(a.rows(), b.cols(), &sink, split.for_work(a.rows() * b.cols() * a.depth()), Tiles { one, two });
        Ok(())
    }
}

/// A reusable buffer for the padded activation vector of [`Int8Kernels::gemv_i32`].
#[derive(Debug, Clone, Default)]
pub struct GemvScratch {
    padded: Vec<u8>,
}

impl Int8Kernels {
    /// `out[r] = Σ_k w[r, k] · x[k]` in `i32`: the batch-1 product, one output per weight row.
    ///
    /// ```
    /// use fasterai_runtime::kernels::int8::{GemvScratch, Int8Kernels};
    /// use fasterai_runtime::kernels::pack_i8::PackedRowsI8;
    /// let w = PackedRowsI8::new(&[1, 2, 3, -1, -2, -3], 2, 3).unwrap();
    /// let mut out = [0; 2];
    /// Int8Kernels::best().gemv_i32(&w, &[10, 20, 30], &mut out, &mut GemvScratch::default()).unwrap();
    /// assert_eq!(out, [140, -140]);
    /// ```
    pub fn gemv_i32(&self, w: &PackedRowsI8, x: &[u8], out: &mut [i32], scratch: &mut GemvScratch) -> Result<(), QuantError> {
        check_depth(w.depth())?;
        if x.len() != w.depth() {
            return Err(QuantError::LengthMismatch { what: "GEMV input", expected: w.depth(), found: x.len() });
        }
        if out.len() != w.rows() {
            return Err(QuantError::LengthMismatch { what: "GEMV output", expected: w.rows(), found: out.len() });
        }
        debug_assert!(w.stride().is_multiple_of(GEMV_ALIGN));
        scratch.padded.clear();
        scratch.padded.extend_from_slice(x);
        scratch.padded.resize(w.stride(), 0);
        let (data, stride, x) = (w.data(), w.stride(), &scratch.padded);
        // Large matrices (VGG's classifier) are read by every thread of the team, a share of rows each.
        let parallel = data.len() >= PARALLEL_GEMV_BYTES && Team::global().threads() > 1;
        let share = if parallel { w.rows().div_ceil(Team::global().threads()).next_multiple_of(8) } else { w.rows() };
        for_each_chunk(out, share, parallel, |i, out| (self.gemv)(&data[i * share * stride..][..out.len() * stride], stride, x, out));
        Ok(())
    }

    /// `out[r] = stage(Σ_k w[r, k] · x[k])` in `u8`.
    pub fn gemv_u8(&self, w: &PackedRowsI8, x: &[u8], stage: &OutputStage, out: &mut [u8], scratch: &mut GemvScratch) -> Result<(), QuantError> {
        if stage.channels.len() != w.rows() || out.len() != w.rows() {
            let found = if out.len() != w.rows() { out.len() } else { stage.channels.len() };
            return Err(QuantError::LengthMismatch { what: "GEMV output or stage", expected: w.rows(), found });
        }
        let mut acc = vec![0i32; w.rows()];
        self.gemv_i32(w, x, &mut acc, scratch)?;
        for (r, (o, &a)) in out.iter_mut().zip(&acc).enumerate() {
            *o = stage.requantize(r, a);
        }
        Ok(())
    }
}

impl Int8Kernels {
    /// The tiles that run `a`: the fallback ones for weights [`Self::saturating`] kernels packed on
    /// its layout, else the table's own.
    pub(crate) fn tiles_for(&self, a: &PackedWeightsI8) -> Fallback {
        match self.saturating {
            Some(fallback) if a.layout() == fallback.layout => fallback,
            _ => Fallback { layout: self.layout, tile_i32: self.tile_i32, tile_u8: self.tile_u8 },
        }
    }

    fn check(&self, a: &PackedWeightsI8, b: &PackedActivationsU8, out_len: usize) -> Result<(), QuantError> {
        self.check_operands(a, b.layout(), b.depth())?;
        if out_len != a.rows() * b.cols() {
            return Err(QuantError::LengthMismatch { what: "GEMM output", expected: a.rows() * b.cols(), found: out_len });
        }
        Ok(())
    }

    /// The weights `a` against activations of `layout_b` and `depth`: the layouts these kernels
    /// read, split weights only for the tiles that read them, depths equal.
    pub(crate) fn check_operands(&self, a: &PackedWeightsI8, layout_b: PanelLayout, depth: usize) -> Result<(), QuantError> {
        let layout = self.tiles_for(a).layout;
        for (found, operand) in [(a.layout(), "weights"), (layout_b, "activations")] {
            if found != layout {
                return Err(QuantError::LayoutMismatch { kernels: self.name, operand });
            }
        }
        // Split weights run only on the tiles that read them, and those tiles only on split
        // weights: elsewhere the split-off words would be lost, or pairs could saturate.
        if a.is_split() != (self.saturating.is_some() && layout == self.layout) {
            return Err(QuantError::LayoutMismatch { kernels: self.name, operand: "weights" });
        }
        check_depth(a.depth())?;
        if a.depth() != depth {
            return Err(QuantError::LengthMismatch { what: "activation rows (k)", expected: a.depth(), found: depth });
        }
        Ok(())
    }
}

/// The tile kernels of one product, as closures over its operands: `one(row_panel, col_panel, tile)`
/// and, when the kernels have them, `two(row_panel, col_panel, tiles)` for column panels
/// `col_panel` and `col_panel + 1`.
pub(crate) struct Tiles<F, G> {
    pub(crate) one: F,
    pub(crate) two: Option<G>,
}

/// Runs the tiles over the whole `m × n` product and hands each tile's valid part to `sink`.
fn drive<T, F, G>(m: usize, n: usize, sink: &Sink<T>, split: Split, tiles: Tiles<F, G>)
where
    T: Copy + Default + Send + Sync,
    F: Fn(usize, usize, &mut [T; MR * NR]) + Sync,
    G: Fn(usize, usize, &mut [[T; MR * NR]; 2]) + Sync,
{
    if m == 0 || n == 0 {
        return;
    }
    let (row_panels, col_panels) = (m.div_ceil(MR), n.div_ceil(NR));
    let team = Team::global();
    let whole = Block { rows: 0..row_panels, cols: 0..col_panels, m, n };
    match split.resolve(m, n) {
        Split::Sequential | Split::Auto => whole.run(sink, &tiles),
        Split::Rows => {
            let per = row_panels.div_ceil(team.threads()).max(1);
            team.run(row_panels.div_ceil(per), &|shares| {
                for t in shares {
                    Block { rows: t * per..((t + 1) * per).min(row_panels), ..whole.clone() }.run(sink, &tiles);
                }
            });
        }
        Split::Columns => {
            let per = column_share(col_panels, team.threads(), tiles.two.is_some());
            team.run(col_panels.div_ceil(per), &|shares| {
                for t in shares {
                    Block { cols: t * per..((t + 1) * per).min(col_panels), ..whole.clone() }.run(sink, &tiles);
                }
            });
        }
    }
}

/// Column panels per thread when `col_panels` are split over `threads`: an even number when the
/// tiles run in pairs, so that pairs never straddle two threads.
pub(crate) fn column_share(col_panels: usize, threads: usize, paired: bool) -> usize {
    let per = col_panels.div_ceil(threads).max(1);
    if paired {
        per.next_multiple_of(2)
    } else {
        per
    }
}

/// A range of row panels × a range of column panels of an `m × n` product.
#[derive(Clone)]
pub(crate) struct Block {
    pub(crate) rows: std::ops::Range<usize>,
    pub(crate) cols: std::ops::Range<usize>,
    pub(crate) m: usize,
    pub(crate) n: usize,
}

impl Block {
    /// Computes the block's tiles and hands their valid parts to `sink`. Column panels (or pairs of
    /// them) are the outer loop, so activation panels are reused by every weight panel while they
    /// are in cache.
    pub(crate) fn run<T, F, G>(&self, sink: &Sink<T>, tiles: &Tiles<F, G>)
    where
        T: Copy + Default,
        F: Fn(usize, usize, &mut [T; MR * NR]),
        G: Fn(usize, usize, &mut [[T; MR * NR]; 2]),
    {
        let mut bufs = [[T::default(); MR * NR]; 2];
        let mut q = self.cols.start;
        while q < self.cols.end {
            let two = tiles.two.as_ref().filter(|_| q + 1 < self.cols.end);
            let count = if two.is_some() { 2 } else { 1 };
            let places: [Placement; 2] = std::array::from_fn(|i| {
                let col = ((q + i) * NR).min(self.n);
                sink.place(col, NR.min(self.n - col))
            });
            for p in self.rows.clone() {
                match two {
                    Some(two) => two(p, q, &mut bufs),
                    None => (tiles.one)(p, q, &mut bufs[0]),
                }
                let r0 = p * MR;
                for (buf, place) in bufs.iter().zip(&places).take(count) {
                    for r in 0..MR.min(self.m - r0) {
                        sink.put(r0 + r, place, &buf[r * NR..(r + 1) * NR]);
                    }
                }
            }
            q += count;
        }
    }
}
