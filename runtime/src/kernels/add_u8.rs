//! The int8 add that ends a residual block ([`AddRequant`]) over whole maps: vectorised in `f64`
//! where that is exact, split over the team on large maps.
//!
//! The add's value is `clamp(z_o + round_half_even((m_a·(q_a − z_a) + m_b·(q_b − z_b)) / 2^32), lo,
//! 255)` with integer multipliers `m`. While both multipliers are below [`EXACT_MULTIPLIER`], each
//! product is below `2^52` and their sum below `2^53`: every step is exact in `f64` (the division by
//! `2^32` too, a power of two), so `f64` lanes give the very integers of [`AddRequant::apply`]. The
//! table (one read per value) serves the other adds: ratios of scales above 4096.
//!
//! ```
//! use fasterai_runtime::kernels::add_u8::add_maps;
//! use fasterai_runtime::quant::{ActivationQParams, AddRequant};
//! let p = ActivationQParams::from_range(-1.0, 1.0)?;
//! let add = AddRequant::new(p, p, ActivationQParams::from_range(-2.0, 2.0)?, false)?;
//! let (mut a, b) = (vec![p.zero_point, 200, 255], vec![p.zero_point, 10, 255]);
//! let want: Vec<u8> = a.iter().zip(&b).map(|(&x, &y)| add.apply(x, y)).collect();
//! add_maps(&add, &mut a, &b);
//! assert_eq!(a, want);
//! # Ok::<(), fasterai_runtime::quant::QuantError>(())
//! ```

use super::team::for_each_chunk;
use super::widest::widest_fn;
use crate::quant::{AddRequant, ADD_SHIFT};

/// Multipliers below this (scale ratios below 4096) keep the add exact in `f64`: `2^44 · 255 · 2 <
/// 2^53`.
pub const EXACT_MULTIPLIER: i64 = 1 << 44;

/// Maps of at least this many values are added by every thread of the team.
const PARALLEL_VALUES: usize = 1 << 14;

/// Values per task of the team.
const CHUNK: usize = 1 << 13;

/// `a[i] ← a[i] + b[i]` on the add's output grid for every value (the shorter length): the same
/// integers as [`AddRequant::apply`] and [`AddRequant::add_in_place`].
pub fn add_maps(add: &AddRequant, a: &mut [u8], b: &[u8]) {
    let len = a.len().min(b.len());
    let (a, b) = (&mut a[..len], &b[..len]);
    let (m_a, m_b) = add.multipliers();
    if m_a >= EXACT_MULTIPLIER || m_b >= EXACT_MULTIPLIER {
        return add.add_in_place(a, b);
    }
    let (z_a, z_b, z_o) = add.zero_points();
    let unit = 1.0 / (1u64 << ADD_SHIFT) as f64;
    let consts = Consts {
        m_a: m_a as f64,
        m_b: m_b as f64,
        z_a: z_a as f64,
        z_b: z_b as f64,
        z_o: z_o as f64,
        lo: add.clamp_min() as f64,
        unit,
    };
    for_each_chunk(a, CHUNK, len >= PARALLEL_VALUES, |i, chunk| {
        let b = &b[i * CHUNK..][..chunk.len()];
        add_exact(consts, chunk, b);
    });
}

/// `2^52`: the `f64` whose last mantissa bit is worth 1.
const TWO_52: f64 = (1u64 << 52) as f64;

/// The add's parameters as `f64`.
#[derive(Clone, Copy)]
struct Consts {
    m_a: f64,
    m_b: f64,
    z_a: f64,
    z_b: f64,
    z_o: f64,
    lo: f64,
    unit: f64,
}

widest_fn! {
    /// The add in `f64` lanes (exact: see the module docs).
    fn add_exact(k: Consts, a: &mut [u8], b: &[u8]) {
        for (x, &y) in a.iter_mut().zip(b) {
            let sum = k.m_a * (*x as f64 - k.z_a) + k.m_b * (y as f64 - k.z_b);
            let q = ((sum * k.unit).round_ties_even() + k.z_o).clamp(k.lo, 255.0);
            // `q` is an integer in [0, 255]: `2^52 + q` holds it in its low mantissa bits, a
            // conversion LLVM vectorises where the saturating `as u8` is not.
            *x = (q + TWO_52).to_bits() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::ActivationQParams;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Every pair of bytes, on grids whose ratios cover the f64 path (with and without ReLU; ratios
    /// of 1/2, where half the sums are ties) and the table's (a ratio above 4096), split over the
    /// team (65,536 values) and on the caller (a short slice).
    #[test]
    fn the_vector_add_is_the_integer_add_at_every_pair() {
        let grids = [
            ((-2.0, 3.0), (0.0, 7.0), (-2.0, 9.0)),
            ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0)),
            ((-1.0, 1.0), (-1.0, 1.0), (-2.0, 2.0)),
            ((-0.7, 2.9), (-3.0, 0.4), (-3.5, 3.0)),
            ((0.0, 5000.0), (0.0, 1.0), (0.0, 1.0)),
        ];
        let mut rng = SmallRng::seed_from_u64(3);
        for (a, b, o) in grids {
            let p = |(lo, hi): (f32, f32)| ActivationQParams::from_range(lo, hi).unwrap();
            for relu in [false, true] {
                let add = AddRequant::new(p(a), p(b), p(o), relu).unwrap();
                let (xs, ys): (Vec<u8>, Vec<u8>) = (0..=255u8).flat_map(|x| (0..=255u8).map(move |y| (x, y))).unzip();
                let want: Vec<u8> = xs.iter().zip(&ys).map(|(&x, &y)| add.apply(x, y)).collect();
                let mut got = xs.clone();
                add_maps(&add, &mut got, &ys);
                assert_eq!(got, want, "{a:?} + {b:?} onto {o:?}, relu {relu}");
                // A short odd length runs on the caller; the longer `b` is cut to it.
                let n = rng.gen_range(1..100);
                let mut short = xs[..n].to_vec();
                add_maps(&add, &mut short, &ys);
                assert_eq!(short, want[..n]);
            }
        }
    }
}
