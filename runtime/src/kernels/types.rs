//! The types the int8 kernels share, at the bottom of the floor: the tile sizes ([`MR`] × [`NR`]),
//! the output stage of one tile, the signatures of the tile and GEMV kernels, and how a product is
//! split over threads. The leaf kernels (`generic/`, `x86_64/`, the AMX driver) import these from
//! here, never from their driver [`super::int8`] or the packing ([`super::pack_i8`] re-exports
//! `MR` and `NR`).

use super::pack_i8::PanelLayout;
use super::team::Team;
use crate::quant::ChannelRequant;
use crate::quant::OutputStage;

/// Rows of a weight panel (and of a tile).
pub const MR: usize = 6;
/// Columns of an activation panel (and of a tile): two AVX2 registers of `i32`.
pub const NR: usize = 16;

/// The output stage of the rows of one tile.
#[derive(Debug, Clone, Copy)]
pub struct TileStage<'a> {
    /// The tile's channels (at most [`MR`]; fewer in the last panel).
    pub channels: &'a [ChannelRequant],
    /// Output zero point.
    pub zero_point: u8,
    /// Lowest output value (the zero point with a fused ReLU).
    pub clamp_min: u8,
}

impl<'a> TileStage<'a> {
    /// The stage of weight panel `p`'s channels: rows `p·MR ..` of `stage` (fewer in the last panel).
    pub(crate) fn panel(stage: &'a OutputStage, p: usize) -> Self {
        let end = (p * MR + MR).min(stage.channels.len());
        Self { channels: &stage.channels[p * MR..end], zero_point: stage.output_zero_point, clamp_min: stage.clamp_min }
    }

    /// The stage of every channel of `stage` (for kernels that index channels themselves).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn whole(stage: &'a OutputStage) -> Self {
        Self { channels: &stage.channels, zero_point: stage.output_zero_point, clamp_min: stage.clamp_min }
    }
}

/// The output stages of `N` channels laid out as vector lanes, for kernels that hold output
/// channels in lanes (`N = 8`: the AVX2 Winograd conv; `N = 16`: [`super::conv_u8_direct`]): lane
/// `i` is channel `i`'s [`ChannelRequant`] in the form the kernels apply it (saturating left shift,
/// then the product's high part shifted right and rounded half to even), so that every lane
/// reproduces [`crate::quant::requantize_one`]. `H = N / 2`, the lanes of 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct LaneStages<const N: usize, const H: usize> {
    /// `bias` of each channel.
    pub bias: [i32; N],
    /// Q31 mantissa of each channel's multiplier.
    pub mantissa: [i32; N],
    /// Left shift before the product.
    pub left: [i32; N],
    /// Right shift `r` after taking the product's high half.
    pub right: [i32; N],
    /// `2^(31 + r) − 1` (the rounding's nudge below one half) of the even channels, then of the
    /// odd ones, as 64-bit lanes.
    pub half: [[i64; H]; 2],
    /// `32 + r` of the even channels, then of the odd ones, as 64-bit lanes.
    pub count: [[i64; H]; 2],
    /// Whether any lane shifts left (a multiplier of at least ½); most layers' multipliers are
    /// far below, and a kernel may skip the saturating shift.
    pub shifts_left: bool,
}

/// Eight channels' stages (one AVX2 vector of `i32`).
pub type LaneStages8 = LaneStages<8, 4>;
/// Sixteen channels' stages (one AVX-512 vector of `i32`).
pub type LaneStages16 = LaneStages<16, 8>;

impl<const N: usize, const H: usize> LaneStages<N, H> {
    /// The stages of `channels` (at most `N`); lanes past them hold a neutral channel whose results
    /// are never stored.
    pub fn new(channels: &[ChannelRequant]) -> Self {
        const { assert!(2 * H == N, "H is half of N") };
        assert!(channels.len() <= N, "at most {N} channels per vector");
        let neutral = ChannelRequant { multiplier: crate::quant::FixedPointMultiplier { mantissa: 1 << 30, exponent: 0 }, bias: 0 };
        let at = |i: usize| channels.get(i).unwrap_or(&neutral);
        let right = |i: usize| at(i).multiplier.right_shift() as i64;
        Self {
            bias: std::array::from_fn(|i| at(i).bias),
            mantissa: std::array::from_fn(|i| at(i).multiplier.mantissa),
            left: std::array::from_fn(|i| at(i).multiplier.left_shift() as i32),
            right: std::array::from_fn(|i| right(i) as i32),
            half: std::array::from_fn(|odd| std::array::from_fn(|k| (1i64 << (31 + right(2 * k + odd))) - 1)),
            count: std::array::from_fn(|odd| std::array::from_fn(|k| 32 + right(2 * k + odd))),
            shifts_left: (0..N).any(|i| at(i).multiplier.left_shift() > 0),
        }
    }
}

/// A tile kernel producing `i32` accumulators: weight panel, activation panel, tile.
pub type TileI32Fn = fn(&[i32], &[i32], &mut [i32; MR * NR]);
/// A tile kernel producing requantized `u8`.
pub type TileU8Fn = fn(&[i32], &[i32], TileStage<'_>, &mut [u8; MR * NR]);
/// A `6 × 32` tile kernel producing `i32`: weight panel, two adjacent activation panels, their tiles.
pub type PairI32Fn = fn(&[i32], &[i32], &[i32], &mut [[i32; MR * NR]; 2]);
/// A `6 × 32` tile kernel producing requantized `u8`, as two tiles.
pub type PairU8Fn = fn(&[i32], &[i32], &[i32], TileStage<'_>, &mut [[u8; MR * NR]; 2]);

/// Kernels computing two adjacent column panels at once, sharing each weight load between them.
#[derive(Debug, Clone, Copy)]
pub struct PairTiles {
    /// Two tiles to `i32`.
    pub tile_i32: PairI32Fn,
    /// Two tiles to `u8` through the output stage.
    pub tile_u8: PairU8Fn,
}

/// The exact tiles, on their own layout, that kernels whose pairs saturate (`vpmaddubsw`) hand
/// weights to when too many pairs would have to be split off ([`super::pack_split`]).
#[derive(Debug, Clone, Copy)]
pub struct Fallback {
    /// The layout of the weights (and activations) these tiles read.
    pub layout: PanelLayout,
    /// Tile to `i32`.
    pub tile_i32: TileI32Fn,
    /// Tile to `u8` through the output stage.
    pub tile_u8: TileU8Fn,
}

/// A matrix-vector kernel: padded weight rows, their stride, the padded activation vector, outputs.
pub type GemvFn = fn(&[i8], usize, &[u8], &mut [i32]);

/// Below this many multiply-adds, [`Split::Auto`] runs a product on one thread. Since shares go to
/// the spinning helpers of [`Team::global`] (not to parked rayon workers), SmallVgg's 3.6–7.2 M
/// multiply-add convolutions gain from the split: four alternating runs of 5000 images on the
/// 2-core VM, 292–359 µs split at 1 M against 359–411 µs split at 16 M only.
pub const SEQUENTIAL_BELOW_MACS: usize = 1 << 20;


/// How a GEMM is spread over the threads of [`Team::global`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One thread.
    Sequential,
    /// Groups of output rows (channels) per thread; every thread reads all the activations.
    Rows,
    /// Groups of output columns (positions) per thread; every thread reads all the weights.
    Columns,
    /// One thread for a small product (below [`SEQUENTIAL_BELOW_MACS`]); otherwise columns when there are
    /// enough of them, else rows (see [`Split::resolve`]).
    Auto,
}

impl Split {
    /// `Auto` becomes `Sequential` for a product of fewer than [`SEQUENTIAL_BELOW_MACS`]
    /// multiply-adds, where waking a second thread costs more than it saves.
    pub(crate) fn for_work(self, macs: usize) -> Split {
        if self == Split::Auto && macs < SEQUENTIAL_BELOW_MACS {
            Split::Sequential
        } else {
            self
        }
    }

    /// The concrete split for an `m × n` product: columns keep each thread's activation panels in
    /// cache and scale best when `n` has a few panels per thread; rows otherwise.
    pub fn resolve(self, m: usize, n: usize) -> Split {
        let threads = Team::global().threads();
        match self {
            Split::Auto if threads <= 1 => Split::Sequential,
            Split::Auto if n.div_ceil(NR) >= 4 * threads => Split::Columns,
            Split::Auto if m.div_ceil(MR) >= 2 * threads => Split::Rows,
            Split::Auto => Split::Columns,
            other => other,
        }
    }
}
