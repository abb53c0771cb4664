//! Which kernel runs each conv of the fp32 plan ([`ConvKernel::choose`]), and the measurements
//! behind each threshold.

use crate::deploy::DeployError;
use crate::kernels::{ConvF32, ConvGeometry, F32Kernels, Isa, LanesConvF32, SpaceToDepth, WinogradConv};

/// The kernel of a convolution; `None` in the plan's layer means im2col + GEMM.
#[derive(Debug, Clone)]
pub(super) enum ConvKernel {
    /// Patch rows read in place ([`ConvF32`]).
    Direct(ConvF32),
    /// `F(2×2, 3×3)` ([`WinogradConv`]): 3×3 kernels over many channels ([`winograd`]).
    Winograd(WinogradConv),
    /// A stride-2 conv as a stride-1 one over the input's phases ([`SpaceToDepth`]), on [`ConvF32`]
    /// with the zero taps left out ([`ConvF32::with_taps`]): the original multiply-adds, read in
    /// place instead of gathered into a patch matrix, and on the team's threads like every other
    /// conv (the `gemm` crate's rayon threads would share the cores with the team's spinning ones).
    /// Where the table has neither AVX-512 nor AVX2 (there [`Self::Lanes`] takes every strided
    /// conv): aarch64's NEON tile, and only for the stem ([`NARROW_TILE_PHASES_COST`]).
    Phases(SpaceToDepth, ConvF32),
    /// Output channels in lanes, positions broadcast ([`LanesConvF32`]), where the table has
    /// AVX-512 or AVX2: every stride-2 conv (the stem, ResNet's 3×3/2 convs and 1×1/2 shortcuts)
    /// and the maps too small for [`ConvF32`]'s tiles. ResNet-18's convs alone, two threads: the
    /// stem 1.54 → 1.25–1.49 ms, the 3×3/2 convs 0.69–0.85 → 0.57–0.63 ms (on the phases), the
    /// 1×1/2 ones 0.14–0.17 → 0.07–0.11 ms, the 7×7 maps of 512 channels 1.57 → 1.13–1.20 ms
    /// (im2col + GEMM). Under `FASTERAI_MAX_ISA=avx2`, in the plan: the stem 1.98–2.00 ms (on the
    /// phases) → 1.58 ms, the 3×3/2 convs 0.80–0.95 → 0.63–0.78 ms, the 7×7 maps 1.84–1.87 →
    /// 1.48–1.53 ms (both before on the `gemm` crate's AVX2 kernels), the 1×1/2 ones 0.11–0.13 ms
    /// either way.
    Lanes(LanesConvF32),
}

/// Without [`LanesConvF32`]'s tiles, stride-2 convs run on the phases only when their dense
/// stride-1 form costs at most this many times their multiply-adds (the 7×7 stem: 1.31×); the
/// others stay on im2col + GEMM. (With the AVX2 tile and every stride-2 conv on the phases,
/// ResNet-18 had measured 1.04× the time.)
const NARROW_TILE_PHASES_COST: f64 = 1.5;

/// 3×3 stride-1 convs with at least this many input channels run by Winograd's algorithm. Measured
/// on the 2-core VM (`examples`-style loop, best of 3, both threads): Winograd/direct speed-ups
/// 0.59–0.84× at 32–64 input channels (its transforms dominate), 1.27× at 128 (64×64 maps),
/// 1.88× at 256, 1.62–2.13× at 512.
const WINOGRAD_MIN_CHANNELS: usize = 128;

/// ... or at least [`WINOGRAD_NARROW_CHANNELS`] on maps of this many output positions, where the
/// table has AVX-512. On the Zen 4 VM with the vectorised transforms, 64 channels, two threads:
/// alone, Winograd took 0.78–0.90× the direct kernel's time on 40×40 maps, 0.80–0.87× on 56×56,
/// 0.84× on 64×64 (64 → 128), about the same on 28×28, 1.4× on 14×14 and 1.3× on 128×128 (its
/// transformed input no longer fits the caches); in the plan, ResNet-18's four 56×56 convs took
/// 0.78–0.85× the time of their bands, but SmallVgg's 14×14 one 1.5×.
const WINOGRAD_NARROW_POSITIONS: std::ops::RangeInclusive<usize> = 32 * 32..=64 * 64;

/// See [`WINOGRAD_NARROW_POSITIONS`].
const WINOGRAD_NARROW_CHANNELS: usize = 64;

/// [`WINOGRAD_NARROW_POSITIONS`] where the direct kernel has its AVX2 tile (not measured on NEON,
/// which keeps the direct kernel for 64 channels). Under
/// `FASTERAI_MAX_ISA=avx2` on the Zen 4 VM (Winograd's products on the `gemm` crate's AVX2
/// kernels), in the plan: ResNet-18's four 56×56 convs of 64 channels 2.82–2.98 → 2.25–2.51 ms per
/// pair of convs, VGG16-BN's 64 → 128 conv on its 64×64 map 3.66–3.69 → 5.87 ms.
const NARROW_TILE_WINOGRAD_POSITIONS: std::ops::RangeInclusive<usize> = 32 * 32..=56 * 56;

/// Whether a 3×3 stride-1 conv runs by Winograd's algorithm.
fn winograd(g: ConvGeometry, tile: Isa) -> bool {
    let narrow_positions = match tile {
        Isa::Avx512 => Some(WINOGRAD_NARROW_POSITIONS),
        Isa::Avx2 => Some(NARROW_TILE_WINOGRAD_POSITIONS),
        _ => None,
    };
    let channels = g.channels() >= WINOGRAD_MIN_CHANNELS
        || (g.channels() >= WINOGRAD_NARROW_CHANNELS && narrow_positions.is_some_and(|p| p.contains(&g.out_len())));
    let wide_tile = tile == Isa::Avx512;
    g.kernel() == 3 && channels && (!wide_tile || g.out_height().min(g.out_width()) >= WINOGRAD_MIN_SIDE)
}

/// ... and, where the direct kernel has its AVX-512 tile, output maps of at least this many rows
/// and columns. On ResNet-18's 7×7 maps (512 channels) the tiles pad 49 positions to 64 and each of
/// the sixteen products is a 16-column GEMM: the direct kernel measured 0.95× the plan's time (one
/// thread, alternating); VGG16's 8×8 maps at 128² inputs keep Winograd. With the AVX2 tile, small
/// maps of 128 channels keep Winograd too (the direct kernel measured 1.22× its time, though then
/// Winograd's products still ran the `gemm` crate's AVX-512 code under the cap); from 256 channels
/// [`LanesConvF32`] takes them first ([`SMALL_MAP_CHANNELS`]).
const WINOGRAD_MIN_SIDE: usize = 8;

/// A stride-1 conv of this many input channels or more, on maps with fewer rows or columns than
/// [`WINOGRAD_MIN_SIDE`], runs on [`LanesConvF32`] where the table has AVX-512 or AVX2:
/// ResNet-18's 7×7 maps of 512 channels (49 positions in 64 of [`ConvF32`]'s tile columns). One
/// such conv on two threads: [`ConvF32`] 1.38–1.47 ms, im2col + GEMM (the choice before) 1.57,
/// [`LanesConvF32`] 1.13–1.20 in a loop, 1.33–1.43 in the plan, where its 9.4 MB of weights come
/// from memory. Under `FASTERAI_MAX_ISA=avx2`, in the plan: Winograd 1.84–1.87 ms,
/// [`LanesConvF32`] 1.48–1.53.
const SMALL_MAP_CHANNELS: usize = 256;

fn small_wide_map(g: ConvGeometry) -> bool {
    !g.is_pointwise() && g.channels() >= SMALL_MAP_CHANNELS && g.out_height().min(g.out_width()) < WINOGRAD_MIN_SIDE
}

/// A conv's kernel and the scratch it needs.
pub(super) struct Chosen {
    /// `None`: im2col + GEMM.
    pub(super) kernel: Option<ConvKernel>,
    /// Values of the shared column buffer it uses (the phases, or the patch matrix).
    pub(super) col: usize,
    /// Values of [`LanesConvF32`]'s padded image.
    pub(super) padded: usize,
}

impl ConvKernel {
    /// The kernel for a conv of geometry `g` with row-major weights `[O, C·K·K]` on this CPU's
    /// table (within `FASTERAI_MAX_ISA`), its weights laid out for it.
    pub(super) fn choose(g: ConvGeometry, weight: &[f32], out_channels: usize, bias: Option<&[f32]>, relu: bool) -> Result<Chosen, DeployError> {
        let tile = F32Kernels::best().isa;
        let none = Chosen { kernel: None, col: if g.is_pointwise() { 0 } else { g.col_len() }, padded: 0 };
        if LanesConvF32::available() && (g.stride() != 1 || small_wide_map(g)) {
            let padded = g.channels() * g.padded_height() * g.padded_width();
            let kernel = Self::Lanes(LanesConvF32::new(g, weight, out_channels, bias, relu)?);
            return Ok(Chosen { kernel: Some(kernel), col: 0, padded });
        }
        // Reached only without AVX-512 (where the lanes conv took every strided conv above).
        if let Some(s2d) = SpaceToDepth::new(g).filter(|s2d| s2d.cost() <= NARROW_TILE_PHASES_COST) {
            let conv = ConvF32::with_taps(s2d.geometry(), &s2d.weights(weight, out_channels)?, out_channels, bias, relu, &s2d.taps())?;
            let col = s2d.len();
            return Ok(Chosen { kernel: Some(Self::Phases(s2d, conv)), col, padded: 0 });
        }
        if g.stride() != 1 {
            return Ok(none);
        }
        let kernel = if winograd(g, tile) {
            Self::Winograd(WinogradConv::new(g, weight, out_channels, bias, relu)?)
        } else {
            Self::Direct(ConvF32::new(g, weight, out_channels, bias, relu)?)
        };
        Ok(Chosen { kernel: Some(kernel), col: 0, padded: 0 })
    }
}
