//! The int8 add that ends a residual block: two `u8` maps on their own grids, summed onto a third.
//!
//! With inputs `(s_a, z_a)`, `(s_b, z_b)` and output `(s_o, z_o)`, TFLite's integer recipe: both
//! sides are lifted by `2^20` and scaled to a common step `2·max(s_a, s_b)`, summed exactly, then
//! scaled to the output grid:
//!
//! ```text
//! a' = M_a · ((q_a − z_a) · 2^20)      M_a = s_a / (2·max(s_a, s_b))      (≤ 1/2)
//! b' = M_b · ((q_b − z_b) · 2^20)      M_b = s_b / (2·max(s_a, s_b))
//! y  = clamp(z_o + M_o · (a' + b'), lo, 255)      M_o = 2·max(s_a, s_b) / (2^20 · s_o)
//! ```
//!
//! each `M` a [`FixedPointMultiplier`]; `lo = z_o` when a ReLU follows, else 0. `|q − z| ≤ 255`, so
//! the lifted values stay below `2^28` and their sum below `2^29`: nothing overflows.
//!
//! The result depends on the two input bytes only, so [`AddRequant::new`] evaluates the formula once
//! for all 65,536 pairs; [`AddRequant::add_in_place`] then costs one table read per value (64 KiB,
//! cache-resident), with the same integers as [`AddRequant::apply`].

use super::{ActivationQParams, FixedPointMultiplier, QuantError};

/// The lift that keeps the scaled inputs' fractions (TFLite's `left_shift`).
const LIFT: u32 = 20;

/// The integer add of two quantized maps onto an output grid, with an optional ReLU.
///
/// ```
/// use fasterai_runtime::quant::{ActivationQParams, AddRequant};
/// let a = ActivationQParams::from_range(-1.0, 1.0).unwrap();
/// let b = ActivationQParams::from_range(0.0, 4.0).unwrap();
/// let out = ActivationQParams::from_range(-1.0, 5.0).unwrap();
/// let add = AddRequant::new(a, b, out, false).unwrap();
/// let (x, y) = (0.5f32, 2.0f32);
/// let sum = out.dequantize(add.apply(a.quantize(x), b.quantize(y)));
/// assert!((sum - 2.5).abs() <= out.scale.get(), "{sum}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AddRequant {
    a: FixedPointMultiplier,
    b: FixedPointMultiplier,
    out: FixedPointMultiplier,
    zero_a: i32,
    zero_b: i32,
    zero_out: i32,
    clamp_min: i32,
    /// `apply(q_a, q_b)` at `256·q_a + q_b`.
    table: Box<[u8]>,
}

impl std::fmt::Debug for AddRequant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddRequant")
            .field("a", &self.a)
            .field("b", &self.b)
            .field("out", &self.out)
            .field("zero_points", &(self.zero_a, self.zero_b, self.zero_out))
            .field("clamp_min", &self.clamp_min)
            .finish_non_exhaustive()
    }
}

impl AddRequant {
    /// The add of `a` and `b` onto `out`, then ReLU if `relu`. Errors when a scale ratio leaves
    /// the fixed-point range (scales some 2^30 apart).
    pub fn new(a: ActivationQParams, b: ActivationQParams, out: ActivationQParams, relu: bool) -> Result<Self, QuantError> {
        let (s_a, s_b, s_o) = (a.scale.get() as f64, b.scale.get() as f64, out.scale.get() as f64);
        let common = 2.0 * s_a.max(s_b);
        let mut add = Self {
            a: FixedPointMultiplier::from_real(s_a / common)?,
            b: FixedPointMultiplier::from_real(s_b / common)?,
            out: FixedPointMultiplier::from_real(common / ((1u64 << LIFT) as f64 * s_o))?,
            zero_a: a.zero_point as i32,
            zero_b: b.zero_point as i32,
            zero_out: out.zero_point as i32,
            clamp_min: if relu { out.zero_point as i32 } else { 0 },
            table: Box::new([]),
        };
        add.table = (0..=255u8).flat_map(|q_a| (0..=255u8).map(move |q_b| (q_a, q_b))).map(|(q_a, q_b)| add.apply(q_a, q_b)).collect();
        Ok(add)
    }

    /// `a[i] ← a[i] + b[i]` for every value (the shorter length), by the table: the same integers
    /// as [`Self::apply`].
    pub fn add_in_place(&self, a: &mut [u8], b: &[u8]) {
        for (q_a, &q_b) in a.iter_mut().zip(b) {
            *q_a = self.table[(*q_a as usize) << 8 | q_b as usize];
        }
    }

    /// `q_a + q_b` on the output grid, as the module docs define it.
    #[inline]
    pub fn apply(&self, q_a: u8, q_b: u8) -> u8 {
        let a = self.a.apply((q_a as i32 - self.zero_a) << LIFT);
        let b = self.b.apply((q_b as i32 - self.zero_b) << LIFT);
        (self.zero_out + self.out.apply(a + b)).clamp(self.clamp_min, 255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integer_add_is_within_one_step_of_the_real_sum() {
        let a = ActivationQParams::from_range(-2.0, 3.0).unwrap();
        let b = ActivationQParams::from_range(0.0, 7.0).unwrap();
        let out = ActivationQParams::from_range(-2.0, 9.0).unwrap();
        for relu in [false, true] {
            let add = AddRequant::new(a, b, out, relu).unwrap();
            for qa in (0..=255u8).step_by(7) {
                for qb in (0..=255u8).step_by(5) {
                    let mut real = a.dequantize(qa) + b.dequantize(qb);
                    if relu {
                        real = real.max(0.0);
                    }
                    let got = out.dequantize(add.apply(qa, qb));
                    let limit = out.dequantize(255).min(real.max(out.dequantize(0)));
                    assert!((got - limit).abs() <= out.scale.get() * 0.5 + 1e-4, "{qa} + {qb}: {got} vs {real}");
                }
            }
        }
    }

    #[test]
    fn the_table_is_the_formula_at_every_pair() {
        let a = ActivationQParams::from_range(-0.7, 2.9).unwrap();
        let b = ActivationQParams::from_range(-3.0, 0.4).unwrap();
        let out = ActivationQParams::from_range(-3.5, 3.0).unwrap();
        for relu in [false, true] {
            let add = AddRequant::new(a, b, out, relu).unwrap();
            let (mut xs, ys): (Vec<u8>, Vec<u8>) = (0..=255u8).flat_map(|x| (0..=255u8).map(move |y| (x, y))).unzip();
            let expected: Vec<u8> = xs.iter().zip(&ys).map(|(&x, &y)| add.apply(x, y)).collect();
            add.add_in_place(&mut xs, &ys);
            assert_eq!(xs, expected);
        }
    }

    #[test]
    fn equal_grids_add_zero_exactly() {
        let p = ActivationQParams::from_range(-1.0, 1.0).unwrap();
        let add = AddRequant::new(p, p, p, false).unwrap();
        assert_eq!(add.apply(p.zero_point, p.zero_point), p.zero_point);
        assert_eq!(add.apply(p.zero_point, 200), 200);
    }
}
