//! The instruction sets the kernels may use: detected once per process, capped by the user.
//!
//! Every kernel of this floor that picks SIMD code asks here ([`Isa::enabled`]), never the CPU
//! directly, so that one setting bounds them all. Each tier has a *level* ([`Isa::level`]); the
//! x86-64 and aarch64 tiers of one level play the same part (SIMD fused multiply-adds at level 1,
//! an int8 dot-product instruction at level 2):
//!
//! | level | x86-64 tier | aarch64 tier | CPU features it needs | used by |
//! |---|---|---|---|---|
//! | 0 | `portable` | `portable` | none (the baseline target, or any CPU) | the `generic_*` twins |
//! | 1 | `avx2` | | AVX2 + FMA | fp32 conv tile, GEMV, `widest_fn!`; int8 `avx2_*` tables (`vpmaddwd` pairs, `vpmaddubsw` quads) and output stage |
//! | 1 | | `neon` | Advanced SIMD (every aarch64 CPU) | fp32 conv tile and GEMV (`fmla`), 2×2 pool; int8 `neon_*` table (`smull` + `sadalp`) and GEMV (`umull` + `uadalp`) |
//! | 2 | `avxvnni` | | the above + AVX-VNNI (256-bit `vpdpbusd`) | int8 `avxvnni_*` table and GEMV |
//! | 2 | | `dotprod` | NEON + the ARMv8.2 dot product (`sdot`, `udot`) | int8 `dotprod_*` table |
//! | 3 | `avx512` | | AVX2 + FMA + AVX-512 F/BW/VL | fp32 conv tile, GEMV, 2×2 pool, `widest_fn!`; int8 packing |
//! | 4 | `avx512vnni` | | the above + AVX-512 VNNI | int8 `avx512vnni_*` table, shallow conv |
//! | 5 | `amx` | | the above + AMX-TILE + AMX-INT8, and the OS grants the tile state | int8 `amx_*` table |
//!
//! Tiers are ordered by level, the aarch64 tier first at equal levels:
//! `Portable < Neon < Avx2 < Dotprod < AvxVnni < Avx512 < Avx512Vnni < Amx`. Only the tiers of the
//! architecture the crate is built for are ever on the CPU (`docs/arm.md` tells how to build and test for aarch64).
//!
//! A tier is *enabled* when the CPU has it and it is not above the cap. The tiers are not nested
//! on every CPU (an AVX-512 CPU may lack AVX-VNNI), so a kernel asks for its own tier with
//! [`Isa::enabled`], not by comparing with [`isa`].
//!
//! # The cap
//! The environment variable `FASTERAI_MAX_ISA` (`portable`, `neon`, `avx2`, `dotprod`, `avxvnni`,
//! `avx512`, `avx512vnni` or `amx`, any case; empty means unset) is read once, at the first question
//! asked here. The cap bounds the *level*: a tier is within it when its level is not above the
//! cap's, so one setting serves a fleet of both architectures (`avx2` allows `neon` but not
//! `dotprod`; `neon` allows `avx2` but not `avx512`). An unknown value is not ignored: a warning naming the valid values goes to stderr once, and the cap becomes
//! `portable`, the strictest (the user asked for a limit; running less is safe, running more is not).
//! [`env_cap`] returns the error itself for tools that would rather stop.
//!
//! [`cap_isa`] lowers the cap from code (tests, benches); it never raises it. Tables already chosen
//! keep their kernels (they are still correct on this CPU), so call it **before** building plans or
//! tables: a plan built under a higher cap may still run its higher-tier kernels.
//!
//! The cap covers this crate's kernels and the `gemm` crate's products behind [`super::gemm`]
//! (Winograd's, im2col + GEMM's). dfdx's matmuls and `faer` pick their own SIMD and are not
//! bounded by it.
//!
//! ```
//! use fasterai_runtime::kernels::{cap_isa, isa, Isa};
//! assert!(Isa::Portable.enabled());
//! assert!(isa() <= cap_isa(Isa::Amx)); // lowering to the top tier changes nothing
//! assert_eq!("avx2".parse::<Isa>().unwrap(), Isa::Avx2);
//! ```

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use super::KernelError;

/// The name of the environment variable holding the cap.
pub const MAX_ISA_VAR: &str = "FASTERAI_MAX_ISA";

/// An instruction-set tier, lowest first (by [level](Isa::level); see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Isa {
    /// Plain Rust for the baseline target: runs on any CPU.
    Portable = 0,
    /// aarch64 Advanced SIMD (NEON), level 1.
    Neon = 1,
    /// AVX2 and FMA, level 1.
    Avx2 = 2,
    /// The ARMv8.2 dot product (`sdot`, `udot`) on top of NEON, level 2.
    Dotprod = 3,
    /// AVX-VNNI (256-bit `vpdpbusd`) on top of AVX2 and FMA, level 2.
    AvxVnni = 4,
    /// AVX-512 F, BW and VL (with AVX2 and FMA).
    Avx512 = 5,
    /// AVX-512 VNNI on top of [`Isa::Avx512`].
    Avx512Vnni = 6,
    /// AMX-TILE and AMX-INT8 on top of [`Isa::Avx512`] (the tile state granted by the OS).
    Amx = 7,
}

/// How many tiers there are.
const TIERS: usize = 8;

impl Isa {
    /// Every tier, lowest first.
    pub const ALL: [Isa; TIERS] =
        [Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Dotprod, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Amx];

    /// The name `FASTERAI_MAX_ISA` takes for this tier, e.g. `avx512vnni`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Dotprod => "dotprod",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Amx => "amx",
        }
    }

    /// The tier's level, which the cap bounds: 0 portable; 1 `neon`, `avx2`; 2 `dotprod`,
    /// `avxvnni`; 3 `avx512`; 4 `avx512vnni`; 5 `amx`.
    ///
    /// ```
    /// use fasterai_runtime::kernels::Isa;
    /// assert_eq!(Isa::Neon.level(), Isa::Avx2.level());
    /// assert!(Isa::Dotprod.level() < Isa::Avx512.level());
    /// ```
    pub fn level(self) -> u8 {
        match self {
            Isa::Portable => 0,
            Isa::Neon | Isa::Avx2 => 1,
            Isa::Dotprod | Isa::AvxVnni => 2,
            Isa::Avx512 => 3,
            Isa::Avx512Vnni => 4,
            Isa::Amx => 5,
        }
    }

    fn from_u8(v: u8) -> Isa {
        Isa::ALL[usize::from(v).min(Isa::ALL.len() - 1)]
    }

    /// Whether the CPU (and, for AMX, the OS) runs this tier's instructions, whatever the cap.
    /// Kernels use it for their safety checks; to choose a kernel use [`Isa::enabled`].
    pub fn on_cpu(self) -> bool {
        cpu()[self as usize]
    }

    /// Whether kernels may use this tier: the CPU has it and its level is not above the cap's.
    pub fn enabled(self) -> bool {
        self.level() <= cap().level() && self.on_cpu()
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = KernelError;

    /// Parses a tier's [`name`](Isa::name), ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Isa::ALL.into_iter().find(|isa| isa.name() == wanted).ok_or_else(|| KernelError::UnknownIsa { value: s.to_string() })
    }
}

/// Which tiers the CPU runs, indexed by `Isa as usize`; detected once.
fn cpu() -> &'static [bool; TIERS] {
    static CPU: OnceLock<[bool; TIERS]> = OnceLock::new();
    CPU.get_or_init(detect)
}

/// Which tiers the CPU runs, as [`cpu`] indexes them: portable and those of `found` marked true.
fn tiers(found: &[(Isa, bool)]) -> [bool; TIERS] {
    let mut cpu = [false; TIERS];
    cpu[Isa::Portable as usize] = true;
    for &(tier, on) in found {
        cpu[tier as usize] = on;
    }
    cpu
}

#[cfg(target_arch = "x86_64")]
fn detect() -> [bool; TIERS] {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let avxvnni = avx2 && is_x86_feature_detected!("avxvnni");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl");
    let avx512vnni = avx512 && is_x86_feature_detected!("avx512vnni");
    // The OS is asked for the tile state only on a CPU with AMX.
    let amx = avx512vnni && amx_on_cpu_and_os();
    tiers(&[(Isa::Avx2, avx2), (Isa::AvxVnni, avxvnni), (Isa::Avx512, avx512), (Isa::Avx512Vnni, avx512vnni), (Isa::Amx, amx)])
}

/// True when the CPU has AMX-TILE and AMX-INT8 and the OS lets this process use the tile state
/// (asked once, from [`detect`]).
#[cfg(target_arch = "x86_64")]
fn amx_on_cpu_and_os() -> bool {
    // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    let cpu = leaf7.edx & (1 << 24) != 0 && leaf7.edx & (1 << 25) != 0;
    // SAFETY: the syscall only changes this process's permitted extended state.
    cpu && unsafe { request_tile_state() }
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: true when Linux grants the tile data.
///
/// # Safety
/// A raw system call; it changes nothing but the process's permitted XSAVE features.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe fn request_tile_state() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let result: i64;
    // SAFETY: the x86-64 Linux system call convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL => result, in("rdi") ARCH_REQ_XCOMP_PERM,
             in("rsi") XFEATURE_XTILEDATA, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    result == 0
}

#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
unsafe fn request_tile_state() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn detect() -> [bool; TIERS] {
    let neon = std::arch::is_aarch64_feature_detected!("neon");
    let dotprod = neon && std::arch::is_aarch64_feature_detected!("dotprod");
    tiers(&[(Isa::Neon, neon), (Isa::Dotprod, dotprod)])
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> [bool; TIERS] {
    tiers(&[Isa::Portable])
}

/// Not read yet.
const UNSET: u8 = u8::MAX;
/// The cap as `Isa as u8`, or [`UNSET`].
static CAP: AtomicU8 = AtomicU8::new(UNSET);

/// The cap `FASTERAI_MAX_ISA` asks for: `Ok(None)` when it is not set (or set to an empty value),
/// an error naming the valid values when it is set to something else.
///
/// ```
/// use fasterai_runtime::kernels::env_cap;
/// // Whatever the environment says, a set value parses or is reported, never ignored.
/// let _ = env_cap();
/// ```
pub fn env_cap() -> Result<Option<Isa>, KernelError> {
    match std::env::var(MAX_ISA_VAR) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => value.parse().map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(KernelError::UnknownIsa { value: value.to_string_lossy().into_owned() }),
    }
}

/// The cap in force, reading `FASTERAI_MAX_ISA` at the first call.
fn cap() -> Isa {
    let v = CAP.load(Ordering::Relaxed);
    if v != UNSET {
        return Isa::from_u8(v);
    }
    static FROM_ENV: OnceLock<Isa> = OnceLock::new();
    let from_env = *FROM_ENV.get_or_init(|| match env_cap() {
        Ok(cap) => cap.unwrap_or(Isa::Amx),
        Err(err) => {
            eprintln!("fasterai: {err}; running the portable kernels only");
            Isa::Portable
        }
    });
    // A `cap_isa` that ran meanwhile may only have lowered it.
    let _ = CAP.compare_exchange(UNSET, from_env as u8, Ordering::Relaxed, Ordering::Relaxed);
    Isa::from_u8(CAP.load(Ordering::Relaxed))
}

/// Lowers the cap to `max` (never raises it: the lower [level](Isa::level) stays) and returns the
/// cap now in force. Call it before
/// building plans or kernel tables: those built earlier keep the kernels they chose.
///
/// ```
/// use fasterai_runtime::kernels::{cap_isa, Isa};
/// let now = cap_isa(Isa::Amx); // no change: nothing is above `amx`
/// assert!(now <= Isa::Amx);
/// ```
pub fn cap_isa(max: Isa) -> Isa {
    cap(); // the environment's cap first, so that it is never read after this lowering
    let prior = CAP.fetch_min(max as u8, Ordering::Relaxed);
    Isa::from_u8(prior.min(max as u8))
}

/// The highest tier enabled: the best this CPU runs under the cap.
///
/// ```
/// use fasterai_runtime::kernels::{isa, Isa};
/// assert!(isa().enabled() && isa() >= Isa::Portable);
/// ```
pub fn isa() -> Isa {
    Isa::ALL.into_iter().rev().find(|t| t.enabled()).unwrap_or(Isa::Portable)
}

/// The highest tier the CPU runs, ignoring the cap.
pub fn detected() -> Isa {
    Isa::ALL.into_iter().rev().find(|t| t.on_cpu()).unwrap_or(Isa::Portable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
            assert_eq!(isa.to_string().to_uppercase().parse::<Isa>().unwrap(), isa);
        }
        let err = "avx9000".parse::<Isa>().unwrap_err();
        assert!(err.to_string().contains("avx9000") && err.to_string().contains("avx512vnni"), "{err}");
    }

    #[test]
    fn tiers_are_ordered_and_the_cpu_tiers_nest_where_they_must() {
        assert!(Isa::ALL.windows(2).all(|w| w[0] < w[1] && w[0].level() <= w[1].level()));
        assert!(Isa::Portable.on_cpu() && Isa::Portable.enabled());
        let nested = [(Isa::AvxVnni, Isa::Avx2), (Isa::Avx512, Isa::Avx2), (Isa::Avx512Vnni, Isa::Avx512), (Isa::Amx, Isa::Avx512Vnni), (Isa::Dotprod, Isa::Neon)];
        for (higher, lower) in nested {
            assert!(!higher.on_cpu() || lower.on_cpu(), "{higher} without {lower}");
        }
        // One architecture's tiers only.
        assert!(!(Isa::Neon.on_cpu() && Isa::Avx2.on_cpu()));
        assert!(isa() <= detected() && isa().level() <= cap().level() && isa().enabled());
        // Under emulation the script names the CPU's top tier (`dotprod` on qemu's `max`, `neon`
        // on a Cortex-A57): detection must find exactly it.
        if let Ok(want) = std::env::var("FASTERAI_EXPECT_ISA") {
            assert_eq!(detected(), want.parse::<Isa>().unwrap(), "FASTERAI_EXPECT_ISA={want}");
        }
    }

    #[test]
    fn enabled_means_on_the_cpu_and_within_the_cap() {
        for t in Isa::ALL {
            assert_eq!(t.enabled(), t.on_cpu() && t.level() <= cap().level(), "{t}");
        }
    }
}
