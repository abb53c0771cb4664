//! The fp32 kernel table: the one place the fp32 floor picks its SIMD code, as
//! [`Int8Kernels`](super::int8::Int8Kernels) is for the int8 products.
//!
//! [`F32Kernels::generic`] fills every slot with a portable twin (in [`super::generic`]);
//! the tables of the higher tiers overwrite the slots they have a faster kernel for (in
//! `super::x86_64` and `super::aarch64`). [`F32Kernels::best`] is the table of the highest tier enabled
//! ([`Isa::enabled`]: on the CPU and not above the `FASTERAI_MAX_ISA` cap).
//!
//! | table | tier | GEMV rows | conv tile | 2×2 max pool (`f32`, `u8`) |
//! |---|---|---|---|---|
//! | `generic_f32` | `portable` | `generic_gemv_f32_4x16` | `generic_conv_f32_8x16` | `generic_pool_2x2` |
//! | `avx2_f32` | `avx2` | `avx2_gemv_f32_4x16` | `avx2_conv_f32_8x16` | `generic_pool_2x2` |
//! | `avx512_f32` | `avx512` | `avx512_gemv_f32_4x16` | `avx512_conv_f32_8x32` | `avx512_pool_2x2_{f32,u8}` |
//! | `neon_f32` (aarch64) | `neon` | `neon_gemv_f32_4x16` | `neon_conv_f32_8x12` | `neon_pool_2x2_{f32,u8}` |
//!
//! The plans and ops reach these slots through [`gemv_f32`](super::gemv_f32),
//! [`ConvF32`](super::ConvF32) (which keeps the tile of the table in force when it is built) and
//! [`max_pool_2x2`](super::max_pool_2x2). Plain Rust loops that the compiler vectorises declare
//! themselves with `widest_fn!`, which asks the same tiers.
//!
//! ```
//! use fasterai_runtime::kernels::{F32Kernels, Isa};
//! let best = F32Kernels::best();
//! assert!(best.isa.enabled());
//! let mut y = [1.0f32; 2];
//! (best.gemv_4x16)(&[1.0, 2.0, 3.0, 4.0], 2, &[1.0, 1.0], &mut y); // y += W·x
//! assert_eq!(y, [4.0, 8.0]);
//! assert_eq!(F32Kernels::available()[0].isa, Isa::Portable);
//! ```

use super::conv_tile::ConvTile;
use super::generic::conv_f32::generic_conv_f32_8x16;
use super::generic::gemv_f32::generic_gemv_f32_4x16;
use super::generic::pool_2x2::generic_pool_2x2;
use super::isa::Isa;
use super::pool::PoolFn;

/// A GEMV row kernel: `y += W·x` for a row-major `W` of `y.len()` rows of `cols` values
/// (`w`, `cols`, `x`, `y`).
pub type GemvRowsFn = fn(&[f32], usize, &[f32], &mut [f32]);

/// The fp32 kernels of one tier: every slot filled by a portable kernel, overwritten by faster
/// ones of the tier.
#[derive(Debug, Clone, Copy)]
pub struct F32Kernels {
    /// `<isa>_f32`.
    pub name: &'static str,
    /// The tier whose instructions the kernels use.
    pub isa: Isa,
    /// The GEMV row kernel of [`gemv_f32`](super::gemv_f32).
    pub gemv_4x16: GemvRowsFn,
    /// The direct conv's tile kernel.
    pub(crate) conv_tile: ConvTile,
    /// The 2×2 stride-2 max pool of `f32` maps.
    pub pool_2x2_f32: PoolFn<f32>,
    /// The 2×2 stride-2 max pool of `u8` maps.
    pub pool_2x2_u8: PoolFn<u8>,
}

/// The tiers that have an fp32 table of their own on this architecture, lowest first.
#[cfg(target_arch = "x86_64")]
pub(crate) const TIERS: &[Isa] = &[Isa::Portable, Isa::Avx2, Isa::Avx512];
/// The tiers that have an fp32 table of their own on this architecture, lowest first.
#[cfg(target_arch = "aarch64")]
pub(crate) const TIERS: &[Isa] = &[Isa::Portable, Isa::Neon];
/// The tiers that have an fp32 table of their own on this architecture, lowest first.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const TIERS: &[Isa] = &[Isa::Portable];

impl F32Kernels {
    /// The portable kernels (any CPU).
    pub fn generic() -> Self {
        Self {
            name: "generic_f32",
            isa: Isa::Portable,
            gemv_4x16: generic_gemv_f32_4x16,
            conv_tile: ConvTile { name: "generic_conv_f32_8x16", columns: 16, run: generic_conv_f32_8x16 },
            pool_2x2_f32: generic_pool_2x2::<f32>,
            pool_2x2_u8: generic_pool_2x2::<u8>,
        }
    }

    /// The table of tier `isa` (one of [`TIERS`]), without asking the CPU.
    fn of_tier(isa: Isa) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use super::x86_64::{conv_f32, gemv_f32, pool_2x2};
            match isa {
                Isa::Avx2 => {
                    return Self {
                        name: "avx2_f32",
                        isa,
                        gemv_4x16: gemv_f32::avx2_gemv_f32_4x16,
                        conv_tile: ConvTile { name: "avx2_conv_f32_8x16", columns: 16, run: conv_f32::avx2_conv_f32_8x16 },
                        ..Self::generic()
                    }
                }
                Isa::Avx512 => {
                    return Self {
                        name: "avx512_f32",
                        isa,
                        gemv_4x16: gemv_f32::avx512_gemv_f32_4x16,
                        conv_tile: ConvTile { name: "avx512_conv_f32_8x32", columns: 32, run: conv_f32::avx512_conv_f32_8x32 },
                        pool_2x2_f32: pool_2x2::avx512_pool_2x2_f32,
                        pool_2x2_u8: pool_2x2::avx512_pool_2x2_u8,
                    }
                }
                _ => {}
            }
        }
        #[cfg(target_arch = "aarch64")]
        if isa == Isa::Neon {
            use super::aarch64::{conv_f32, gemv_f32, pool_2x2};
            return Self {
                name: "neon_f32",
                isa,
                gemv_4x16: gemv_f32::neon_gemv_f32_4x16,
                conv_tile: ConvTile { name: "neon_conv_f32_8x12", columns: 12, run: conv_f32::neon_conv_f32_8x12 },
                pool_2x2_f32: pool_2x2::neon_pool_2x2_f32,
                pool_2x2_u8: pool_2x2::neon_pool_2x2_u8,
            };
        }
        let _ = isa;
        Self::generic()
    }

    /// Every table enabled (on this CPU, within the cap), portable first, fastest last.
    pub fn available() -> Vec<Self> {
        TIERS.iter().copied().filter(|t| t.enabled()).map(Self::of_tier).collect()
    }

    /// The fastest table enabled: AVX-512, else AVX2 + FMA, else portable (NEON, else portable, on aarch64).
    pub fn best() -> Self {
        let tier = TIERS.iter().copied().rev().find(|t| t.enabled()).unwrap_or(Isa::Portable);
        Self::of_tier(tier)
    }
}
