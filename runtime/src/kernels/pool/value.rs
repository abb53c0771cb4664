//! The values the pools compare: `f32` (NaN wins, as in the model's max pool) and `u8` (the int8
//! plan's maps, whose quantization is increasing), and the kernel type of the 2×2 pool.

/// The larger of `a` and `b`, or NaN if either is NaN: the value `loops::beats` picks, in a branch-free
/// form the compiler vectorises (order does not matter for the value, only for the argmax).
#[inline(always)]
pub fn max_keeping_nan(a: f32, b: f32) -> f32 {
    let larger = if b > a { b } else { a };
    if a.is_nan() || b.is_nan() {
        a + b
    } else {
        larger
    }
}

/// A 2×2 pooling kernel: row pairs of the given width in, one output row per pair out.
pub type PoolFn<T> = fn(&[T], usize, &mut [T]);

/// A map value the 2×2 pool compares.
pub trait PoolValue: Copy + sealed::Sealed {
    /// `a ⊔ b`: the larger value, the first on ties; for `f32`, NaN when either is NaN.
    fn larger(self, other: Self) -> Self;

    /// This type's kernel of a pair (the `f32` one or the `u8` one), e.g. a table's 2×2 pools.
    #[doc(hidden)]
    fn pick(f32_kernel: PoolFn<f32>, u8_kernel: PoolFn<u8>) -> PoolFn<Self>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
}

impl PoolValue for f32 {
    fn pick(f32_kernel: PoolFn<f32>, _: PoolFn<u8>) -> PoolFn<Self> {
        f32_kernel
    }

    #[inline(always)]
    fn larger(self, other: Self) -> Self {
        max_keeping_nan(self, other)
    }
}

impl PoolValue for u8 {
    fn pick(_: PoolFn<f32>, u8_kernel: PoolFn<u8>) -> PoolFn<Self> {
        u8_kernel
    }

    #[inline(always)]
    fn larger(self, other: Self) -> Self {
        self.max(other)
    }
}


/// Panics unless `rows` holds `out.len() / (width / 2)` row pairs of `width` values.
pub(crate) fn check_2x2<T>(rows: &[T], width: usize, out: &[T]) {
    let ow = width / 2;
    // Rows of one value pool into nothing.
    let pairs = out.len().checked_div(ow).unwrap_or(rows.len() / (2 * width).max(1));
    assert!(out.len() == pairs * ow && rows.len() == pairs * 2 * width, "{} values pool into {} outputs of rows of {width}", rows.len(), out.len());
}
