//! Plain Rust loops compiled for the widest vector unit of the CPU.
//!
//! The crate is built for the baseline x86-64 (SSE2), so a loop that LLVM vectorises still uses
//! 4-lane registers. A function declared with [`widest_fn!`] has its body compiled three times, for
//! AVX-512F, for AVX2 + FMA and for the baseline, and runs the widest one enabled
//! ([`Isa::enabled`](super::Isa::enabled): on the CPU, and within the `FASTERAI_MAX_ISA` cap). The body and the `#[inline(always)]` helpers it calls
//! are inlined into each version, so LLVM vectorises them with 16, 8 or 4 lanes. Rust never fuses
//! a multiply and an add on its own and never reorders float additions, so every version computes
//! the same values.

/// Declares `fn name(args) -> ret { body }` compiled for AVX-512F, AVX2 + FMA and the baseline,
/// running the widest version enabled ([`Isa::Avx512`](super::Isa), [`Isa::Avx2`](super::Isa)). Arguments are passed by value to the chosen version.
macro_rules! widest_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::kernels::Isa::Avx512.enabled() {
                    // SAFETY: the CPU has AVX-512 F/BW/VL, AVX2 and FMA (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::kernels::Isa::Avx2.enabled() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use widest_fn;

#[cfg(test)]
mod tests {
    widest_fn! {
        /// A sum in 16 independent lanes, then the lanes in order.
        fn lane_sum(xs: &[f32]) -> f32 {
            let mut acc = [0.0f32; 16];
            for chunk in xs.chunks_exact(16) {
                for l in 0..16 {
                    acc[l] += chunk[l];
                }
            }
            acc.iter().sum::<f32>() + xs.chunks_exact(16).remainder().iter().sum::<f32>()
        }
    }

    #[test]
    fn every_version_computes_the_plain_value() {
        let xs: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut acc = [0.0f32; 16];
        for (i, &x) in xs[..1000 - 1000 % 16].iter().enumerate() {
            acc[i % 16] += x;
        }
        let plain = acc.iter().sum::<f32>() + xs[1000 - 1000 % 16..].iter().sum::<f32>();
        assert_eq!(lane_sum(&xs).to_bits(), plain.to_bits());
    }
}
