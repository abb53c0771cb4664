//! A stride-2 convolution as a stride-1 one: the padded input split into its four phases
//! (even/odd rows × even/odd columns) as four times the channels, the `K × K` kernel into a
//! `⌈K/2⌉ × ⌈K/2⌉` one over them (the taps past `K` zero). Output `(y, x)` of the stride-2 conv reads
//! padded pixel `(2y + ky, 2x + kx)`; with `ky = 2a + py`, `kx = 2b + px` that is pixel `(y + a, x + b)`
//! of phase `(py, px)`: a stride-1 conv, which the direct kernels run without a patch matrix.
//!
//! A network's stem (ResNet's 7×7 stride-2 conv over 3 channels, 147 values per output) becomes a
//! 4×4 conv over 12 channels (192 values, 1.31× the multiply-adds), on the fast stride-1 paths of
//! both plans instead of a single-threaded gather. The products are those of the original conv plus
//! zero taps, so integer results are exactly the same.
//!
//! ```
//! use fasterai_runtime::kernels::{ConvGeometry, SpaceToDepth};
//! let s2d = SpaceToDepth::new(ConvGeometry::new(3, 224, 224, 7, 2, 3)?).unwrap();
//! let g = s2d.geometry();
//! assert_eq!((g.channels(), g.height(), g.kernel(), g.stride(), g.padding()), (12, 115, 4, 1, 0));
//! assert_eq!((g.out_height(), g.out_width()), (112, 112));
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use super::team::for_each_chunk;
use super::{ConvGeometry, KernelError};

/// Phases of the input: `(py, px)` for `py, px ∈ {0, 1}`, channel `c` of phase `(py, px)` is the
/// new channel `4c + 2py + px`.
const PHASES: usize = 4;

/// Inputs of at least this many values are rearranged by every thread of the team.
const PARALLEL_VALUES: usize = 1 << 15;

/// The stride-1 form of a stride-2 conv. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceToDepth {
    /// The stride-2 conv.
    from: ConvGeometry,
    /// The stride-1, unpadded conv over the phases.
    to: ConvGeometry,
}

impl SpaceToDepth {
    /// The stride-1 form of `g`; `None` unless `g` has stride 2.
    pub fn new(g: ConvGeometry) -> Option<Self> {
        if g.stride() != 2 {
            return None;
        }
        let k = g.kernel().div_ceil(2);
        let (oh, ow) = (g.out_height(), g.out_width());
        let to = ConvGeometry::new(PHASES * g.channels(), oh + k - 1, ow + k - 1, k, 1, 0).ok()?;
        Some(Self { from: g, to })
    }

    /// The stride-1 conv's geometry (its input is [`Self::rearrange`]'s output).
    pub fn geometry(&self) -> ConvGeometry {
        self.to
    }

    /// Multiply-adds per output of the stride-1 form over those of the original conv.
    pub fn cost(&self) -> f64 {
        self.to.col_rows() as f64 / self.from.col_rows().max(1) as f64
    }

    /// The stride-1 conv's weights `[O, 4C·K'·K']` from the original `[O, C·K·K]` ones (row-major
    /// both), the taps past the kernel zero.
    pub fn weights<T: Copy + Default>(&self, weight: &[T], out_channels: usize) -> Result<Vec<T>, KernelError> {
        let depth = self.from.col_rows();
        if weight.len() != out_channels * depth {
            return Err(KernelError::OperandLength { operand: "weight", expected: out_channels * depth, found: weight.len() });
        }
        let mut out = vec![T::default(); out_channels * self.to.col_rows()];
        for (row, new) in weight.chunks_exact(depth.max(1)).zip(out.chunks_exact_mut(self.to.col_rows().max(1))) {
            for (value, source) in new.iter_mut().zip(self.sources()) {
                if let Some(source) = source {
                    *value = row[source];
                }
            }
        }
        Ok(out)
    }

    /// Which depth steps `(c', ky', kx')` of the stride-1 form (in `im2col` row order) hold a tap of
    /// the original kernel: the others are the zeros past it, which
    /// [`ConvF32::with_taps`](super::ConvF32::with_taps) leaves out so the stride-1 form costs no
    /// more multiply-adds than the original (9 of 16 steps per channel for a 3×3 kernel).
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvGeometry, SpaceToDepth};
    /// let s2d = SpaceToDepth::new(ConvGeometry::new(1, 8, 8, 3, 2, 1)?).unwrap();
    /// let taps = s2d.taps();
    /// assert_eq!((taps.len(), taps.iter().filter(|&&t| t).count()), (16, 9));
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn taps(&self) -> Vec<bool> {
        self.sources().map(|source| source.is_some()).collect()
    }

    /// The depth steps of the stride-1 form that hold a tap (the `true`s of [`Self::taps`]), in
    /// order: a patch matrix of only these rows, against [`Self::tap_weights`], computes the
    /// stride-2 conv with exactly its own multiply-adds.
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvGeometry, SpaceToDepth};
    /// let s2d = SpaceToDepth::new(ConvGeometry::new(1, 8, 8, 3, 2, 1)?).unwrap();
    /// // Phase (0, 0) holds taps (0, 0), (0, 2), (2, 0), (2, 2): steps 0–3 of its 2×2 kernel.
    /// assert_eq!(s2d.tap_steps(), [0, 1, 2, 3, 4, 6, 8, 9, 12]);
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn tap_steps(&self) -> Vec<usize> {
        self.sources().enumerate().filter_map(|(step, source)| source.map(|_| step)).collect()
    }

    /// The original `[O, C·K·K]` weights (row-major) reordered as the rows of [`Self::tap_steps`]:
    /// `[O, C·K·K]` again, column `j` the tap of step `tap_steps()[j]`.
    pub fn tap_weights<T: Copy>(&self, weight: &[T], out_channels: usize) -> Result<Vec<T>, KernelError> {
        let depth = self.from.col_rows();
        if weight.len() != out_channels * depth {
            return Err(KernelError::OperandLength { operand: "weight", expected: out_channels * depth, found: weight.len() });
        }
        let sources: Vec<usize> = self.sources().flatten().collect();
        Ok(weight.chunks_exact(depth.max(1)).flat_map(|row| sources.iter().map(move |&s| row[s])).collect())
    }

    /// For each depth step `(c', ky', kx')` of the stride-1 form, in `im2col` row order, the step
    /// `(c, ky, kx)` of the original kernel it holds (as an index into a `[C·K·K]` weight row), or
    /// `None` past the kernel. Step `(ky', kx')` of phase `(py, px)` is tap `(2ky' + py, 2kx' + px)`.
    fn sources(&self) -> impl Iterator<Item = Option<usize>> {
        let (k, k2) = (self.from.kernel(), self.to.kernel());
        (0..self.to.channels()).flat_map(move |phase| {
            let (c, py, px) = (phase / PHASES, phase % PHASES / 2, phase % 2);
            (0..k2 * k2).map(move |step| {
                let (ky, kx) = (2 * (step / k2) + py, 2 * (step % k2) + px);
                (ky < k && kx < k).then_some((c * k + ky) * k + kx)
            })
        })
    }

    /// Values of the rearranged input.
    pub fn len(&self) -> usize {
        self.to.image_len()
    }

    /// Whether the rearranged input is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The phases of `x` (`[C, H, W]`) into `out` (`[4C, H', W']`), padding read as `fill`; split over
    /// the team when `parallel` and the input is large.
    pub fn rearrange<T: Copy + Send + Sync>(&self, x: &[T], fill: T, out: &mut [T], parallel: bool) -> Result<(), KernelError> {
        let (c, h, w, p) = (self.from.channels(), self.from.height(), self.from.width(), self.from.padding());
        if x.len() != self.from.image_len() {
            return Err(KernelError::OperandLength { operand: "space-to-depth input", expected: self.from.image_len(), found: x.len() });
        }
        if out.len() != self.len() {
            return Err(KernelError::OperandLength { operand: "space-to-depth output", expected: self.len(), found: out.len() });
        }
        let (ph, pw) = (self.to.height(), self.to.width());
        if c == 0 || ph == 0 || pw == 0 {
            return Ok(());
        }
        for_each_chunk(out, ph * pw, parallel && x.len() >= PARALLEL_VALUES, |plane, dst| {
            let (ch, py, px) = (plane / PHASES, plane % PHASES / 2, plane % 2);
            let image = &x[ch * h * w..][..h * w];
            for (i, dst_row) in dst.chunks_exact_mut(pw).enumerate() {
                // Padded row 2i + py is image row 2i + py − p.
                let Some(r) = (2 * i + py).checked_sub(p).filter(|&r| r < h) else {
                    dst_row.fill(fill);
                    continue;
                };
                let src = &image[r * w..][..w];
                for (j, d) in dst_row.iter_mut().enumerate() {
                    *d = (2 * j + px).checked_sub(p).and_then(|s| src.get(s)).copied().unwrap_or(fill);
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{reference_gemm_f32, reference_im2col_f32, Accumulate, MatMut, MatRef};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// A conv by im2col and the plain GEMM: `[O, OH·OW]`.
    fn conv(g: &ConvGeometry, x: &[f32], w: &[f32], o: usize) -> Vec<f32> {
        let mut col = vec![0.0; g.col_len()];
        reference_im2col_f32(x, g, &mut col).unwrap();
        let (r, l) = (g.col_rows(), g.out_len());
        let mut y = vec![0.0; o * l];
        let (w, col) = (MatRef::row_major(w, o, r).unwrap(), MatRef::row_major(&col, r, l).unwrap());
        reference_gemm_f32(MatMut::row_major(&mut y, o, l).unwrap(), w, col, Accumulate::Overwrite).unwrap();
        y
    }

    /// Integer-valued inputs and weights keep every sum exact, so the two forms agree bit for bit;
    /// odd and even sizes, kernels 1–7, paddings up to K/2, whole and split over the team.
    #[test]
    fn the_stride_1_form_computes_the_stride_2_conv() {
        let mut rng = SmallRng::seed_from_u64(5);
        for (c, h, w) in [(1, 5, 5), (3, 9, 7), (2, 8, 11), (3, 32, 30)] {
            for k in 1..=7 {
                for p in 0..=k / 2 {
                    let Ok(g) = ConvGeometry::new(c, h, w, k, 2, p) else { continue };
                    let s2d = SpaceToDepth::new(g).unwrap();
                    assert_eq!((s2d.geometry().out_height(), s2d.geometry().out_width()), (g.out_height(), g.out_width()));
                    let o = 3;
                    let x: Vec<f32> = (0..g.image_len()).map(|_| rng.gen_range(-8..8) as f32).collect();
                    let wt: Vec<f32> = (0..o * g.col_rows()).map(|_| rng.gen_range(-8..8) as f32).collect();
                    let want = conv(&g, &x, &wt, o);
                    for parallel in [false, true] {
                        let mut phases = vec![f32::NAN; s2d.len()];
                        s2d.rearrange(&x, 0.0, &mut phases, parallel).unwrap();
                        let got = conv(&s2d.geometry(), &phases, &s2d.weights(&wt, o).unwrap(), o);
                        assert_eq!(got, want, "{c}×{h}×{w} k{k} p{p} parallel {parallel}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_taps_are_the_kernel_s_and_the_sparse_direct_conv_computes_the_stride_2_conv() {
        use crate::kernels::{ConvF32, ConvScratchF32, Parallelism};
        let mut rng = SmallRng::seed_from_u64(6);
        for (c, h, w) in [(1, 5, 5), (3, 9, 7), (5, 14, 13), (2, 32, 30)] {
            for k in 1..=7 {
                let Ok(g) = ConvGeometry::new(c, h, w, k, 2, k / 2) else { continue };
                let s2d = SpaceToDepth::new(g).unwrap();
                let o = 11;
                let ones = s2d.weights(&vec![1.0f32; o * g.col_rows()], o).unwrap();
                let taps = s2d.taps();
                // A step is a tap exactly where the stride-1 weights can be non-zero.
                assert_eq!(taps, ones[..s2d.geometry().col_rows()].iter().map(|&v| v != 0.0).collect::<Vec<_>>());
                assert_eq!(taps.iter().filter(|&&t| t).count(), g.col_rows());
                let x: Vec<f32> = (0..g.image_len()).map(|_| rng.gen_range(-8..8) as f32).collect();
                let wt: Vec<f32> = (0..o * g.col_rows()).map(|_| rng.gen_range(-8..8) as f32).collect();
                let want = conv(&g, &x, &wt, o);
                let mut phases = vec![f32::NAN; s2d.len()];
                s2d.rearrange(&x, 0.0, &mut phases, false).unwrap();
                let direct = ConvF32::with_taps(s2d.geometry(), &s2d.weights(&wt, o).unwrap(), o, None, false, &taps).unwrap();
                let mut got = vec![f32::NAN; want.len()];
                for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                    direct.forward(&phases, &mut got, &mut ConvScratchF32::default(), parallelism).unwrap();
                    // Small integers: every sum is exact in any order.
                    assert_eq!(got, want, "{c}×{h}×{w} k{k} {parallelism:?}");
                }
            }
        }
        let g = ConvGeometry::new(2, 8, 8, 3, 2, 1).unwrap();
        let s2d = SpaceToDepth::new(g).unwrap();
        let bad = ConvF32::with_taps(s2d.geometry(), &s2d.weights(&[0.0; 18], 1).unwrap(), 1, None, false, &[true; 3]);
        assert!(bad.is_err(), "a taps list of the wrong length is an error");
    }

    #[test]
    fn the_fill_pads_and_bad_buffers_are_errors() {
        let g = ConvGeometry::new(1, 2, 2, 3, 2, 1).unwrap();
        let s2d = SpaceToDepth::new(g).unwrap();
        let mut out = vec![0u8; s2d.len()];
        s2d.rearrange(&[1, 2, 3, 4], 9, &mut out, false).unwrap();
        // The padded image is [9 9 9 9 | 9 1 2 9 | 9 3 4 9 | 9 9 9 9]; phase (py, px) takes rows
        // py, py + 2 and columns px, px + 2 of it.
        assert_eq!((s2d.geometry().height(), s2d.geometry().width()), (2, 2));
        assert_eq!(out, [9, 9, 9, 4, 9, 9, 3, 9, 9, 2, 9, 9, 1, 9, 9, 9]);
        assert!(s2d.rearrange(&[1, 2, 3], 9, &mut out, false).is_err());
        assert!(SpaceToDepth::new(ConvGeometry::new(1, 4, 4, 3, 1, 1).unwrap()).is_none());
        assert!(s2d.weights(&[0.0f32; 8], 1).is_err());
    }
}
