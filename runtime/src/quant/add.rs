//! The int8 add that ends a residual block: two `u8` maps on their own grids, summed onto a third,
//! with **one rounding**.
//!
//! With inputs `(s_a, z_a)`, `(s_b, z_b)` and output `(s_o, z_o)`, the real result is
//! `clamp(round(s_a/s_o·(q_a − z_a) + s_b/s_o·(q_b − z_b)) + z_o, lo, 255)`; `lo = z_o` when a ReLU
//! follows, else 0. In integers, each ratio is a multiplier with [`ADD_SHIFT`] fractional bits,
//! `m = round(s/s_o · 2^32)`, and
//!
//! ```text
//! y = clamp(z_o + round_half_even((m_a·(q_a − z_a) + m_b·(q_b − z_b)) / 2^32), lo, 255)
//! ```
//!
//! in `i64`: the products are exact, the sum is exact, and the only rounding is the last one, half
//! to even as ONNX `QuantizeLinear` rounds (the multipliers' own error is below `2^-24` of a step for
//! any `u8` input). This is the file's `DequantizeLinear → Add → QuantizeLinear` to the bit but for
//! values within that error of a tie.
//!
//! The result depends on the two input bytes only, so [`AddRequant::new`] evaluates the formula once
//! for all 65,536 pairs; [`AddRequant::add_in_place`] then costs one table read per value (64 KiB,
//! cache-resident), with the same integers as [`AddRequant::apply`].

use super::{ActivationQParams, QuantError};

/// Fractional bits of the add's multipliers.
pub const ADD_SHIFT: u32 = 32;

/// Largest ratio `s/s_o` an add takes: the products stay far inside `i64`.
const MAX_RATIO: f64 = (1u64 << 24) as f64;

/// `round(ratio · 2^ADD_SHIFT)`: the multiplier of one side; errors outside `(0, 2^24)` or when it
/// rounds to 0.
pub fn add_multiplier(ratio: f64) -> Result<i64, QuantError> {
    let m = (ratio * (1u64 << ADD_SHIFT) as f64).round();
    if !(ratio.is_finite() && ratio > 0.0 && ratio < MAX_RATIO && m >= 1.0) {
        return Err(QuantError::MultiplierOutOfRange(ratio));
    }
    Ok(m as i64)
}

/// `x / 2^ADD_SHIFT` rounded half to even (`x` an exact `i64` sum of the add's products).
#[inline]
pub fn round_add_shift(x: i64) -> i64 {
    let floor = x >> ADD_SHIFT;
    let rest = x - (floor << ADD_SHIFT);
    let half = 1i64 << (ADD_SHIFT - 1);
    floor + i64::from(rest > half || (rest == half && floor & 1 == 1))
}

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
    /// `round(s_a/s_o · 2^32)`.
    a: i64,
    /// `round(s_b/s_o · 2^32)`.
    b: i64,
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
            .field("zero_points", &(self.zero_a, self.zero_b, self.zero_out))
            .field("clamp_min", &self.clamp_min)
            .finish_non_exhaustive()
    }
}

impl AddRequant {
    /// The add of `a` and `b` onto `out`, then ReLU if `relu`. Errors when a scale ratio `s/s_o`
    /// leaves `[2^-32, 2^24)`.
    pub fn new(a: ActivationQParams, b: ActivationQParams, out: ActivationQParams, relu: bool) -> Result<Self, QuantError> {
        let s_o = out.scale.get() as f64;
        let mut add = Self {
            a: add_multiplier(a.scale.get() as f64 / s_o)?,
            b: add_multiplier(b.scale.get() as f64 / s_o)?,
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

    /// The multipliers `(m_a, m_b)`: `round(s/s_o · 2^32)` of each input.
    pub fn multipliers(&self) -> (i64, i64) {
        (self.a, self.b)
    }

    /// The zero points `(z_a, z_b, z_o)` of the inputs and the output.
    pub fn zero_points(&self) -> (u8, u8, u8) {
        (self.zero_a as u8, self.zero_b as u8, self.zero_out as u8)
    }

    /// The lowest output: the output's zero point when a ReLU follows, else 0.
    pub fn clamp_min(&self) -> u8 {
        self.clamp_min as u8
    }

    /// `q_a + q_b` on the output grid, as the module docs define it.
    #[inline]
    pub fn apply(&self, q_a: u8, q_b: u8) -> u8 {
        let sum = self.a * (q_a as i32 - self.zero_a) as i64 + self.b * (q_b as i32 - self.zero_b) as i64;
        (self.zero_out as i64 + round_add_shift(sum)).clamp(self.clamp_min as i64, 255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integer_add_rounds_the_real_sum_once() {
        let a = ActivationQParams::from_range(-2.0, 3.0).unwrap();
        let b = ActivationQParams::from_range(0.0, 7.0).unwrap();
        let out = ActivationQParams::from_range(-2.0, 9.0).unwrap();
        let (ra, rb) = (a.scale.get() as f64 / out.scale.get() as f64, b.scale.get() as f64 / out.scale.get() as f64);
        let mut exact = 0;
        for relu in [false, true] {
            let add = AddRequant::new(a, b, out, relu).unwrap();
            for qa in 0..=255u8 {
                for qb in 0..=255u8 {
                    let real = ra * (qa as f64 - a.zero_point as f64) + rb * (qb as f64 - b.zero_point as f64);
                    let lo = if relu { out.zero_point as f64 } else { 0.0 };
                    let want = (real.round_ties_even() + out.zero_point as f64).clamp(lo, 255.0);
                    let got = add.apply(qa, qb) as f64;
                    let tie = (real - real.floor() - 0.5).abs() < 1e-6;
                    assert!(got == want || (tie && (got - want).abs() == 1.0), "{qa} + {qb}: {got} vs {want} ({real})");
                    exact += usize::from(got == want);
                }
            }
        }
        assert!(exact > 2 * 65_536 - 100, "{exact}");
    }

    #[test]
    fn ties_round_to_even() {
        assert_eq!(round_add_shift(5 << (ADD_SHIFT - 1)), 2); // 2.5
        assert_eq!(round_add_shift(7 << (ADD_SHIFT - 1)), 4); // 3.5
        assert_eq!(round_add_shift(-(5 << (ADD_SHIFT - 1))), -2); // −2.5
        assert_eq!(round_add_shift(-(3 << (ADD_SHIFT - 1)) - 1), -2); // just below −1.5
        assert_eq!(round_add_shift((3 << (ADD_SHIFT - 1)) - 1), 1); // just below 1.5
        assert!(add_multiplier(0.0).is_err() && add_multiplier(1e30).is_err() && add_multiplier(1e-12).is_err());
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
