//! A float map quantized onto its `u8` grid in vector lanes: the int8 plan's input, 150,528 values
//! for a 3×224×224 image, where the scalar [`ActivationQParams::quantize`] rounds through a libm
//! call per value on the baseline x86-64 target.
//!
//! Each lane computes what the scalar function does, in the same order and precision (`x / s`,
//! rounded half to even, plus `z`, clamped to `[0, 255]`), so the bytes are the same; NaN becomes 0
//! as `NaN as u8` does.
//!
//! ```
//! use fasterai_runtime::kernels::quantize_u8::quantize_map;
//! use fasterai_runtime::quant::ActivationQParams;
//! let p = ActivationQParams::from_range(-1.0, 1.0)?;
//! let x = [-2.0, -0.5, 0.0, 0.25, 3.0, f32::NAN];
//! let mut q = [0u8; 6];
//! quantize_map(p, &x, &mut q);
//! assert_eq!(q.to_vec(), x.iter().map(|&v| p.quantize(v)).collect::<Vec<_>>());
//! # Ok::<(), fasterai_runtime::quant::QuantError>(())
//! ```

use super::widest::widest_fn;
use crate::quant::ActivationQParams;

/// `2^23`: the `f32` whose last mantissa bit is worth 1.
const TWO_23: f32 = (1u32 << 23) as f32;

/// `out[i] = p.quantize(x[i])` for every value (the shorter length), vectorised.
pub fn quantize_map(p: ActivationQParams, x: &[f32], out: &mut [u8]) {
    quantize_lanes(p.scale.get(), p.zero_point as f32, x, out);
}

widest_fn! {
    /// The quantization in `f32` lanes (see the module docs).
    fn quantize_lanes(scale: f32, zero_point: f32, x: &[f32], out: &mut [u8]) {
        for (q, &v) in out.iter_mut().zip(x) {
            // `max` then `min` clamp as `clamp` does, and take NaN to 0 (`clamp` keeps it).
            #[allow(clippy::manual_clamp)]
            let y = ((v / scale).round_ties_even() + zero_point).max(0.0).min(255.0);
            // `y` is an integer in [0, 255]: `2^23 + y` holds it in its low mantissa bits.
            *q = (y + TWO_23).to_bits() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Random values across and past the grid, exact ties of the rounding, ±0, ±∞ and NaN, on
    /// grids with and without a zero point inside: the scalar function's bytes.
    #[test]
    fn the_lanes_give_the_scalar_bytes() {
        let mut rng = SmallRng::seed_from_u64(11);
        for (lo, hi) in [(-1.0, 1.0), (0.0, 6.0), (-3.7, 0.2), (0.0, 255.0)] {
            let p = ActivationQParams::from_range(lo, hi).unwrap();
            let s = p.scale.get();
            let mut x: Vec<f32> = (0..1000).map(|_| rng.gen_range(2.0 * lo - 1.0..2.0 * hi + 1.0)).collect();
            x.extend((-300..300).map(|k| (k as f32 + 0.5) * s)); // ties of x / s
            x.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN]);
            let mut got = vec![7u8; x.len()];
            quantize_map(p, &x, &mut got);
            let want: Vec<u8> = x.iter().map(|&v| p.quantize(v)).collect();
            assert_eq!(got, want, "grid [{lo}, {hi}]");
        }
    }
}
