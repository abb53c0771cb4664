//! im2col for one `u8` image in NCHW layout, padding with the input zero point.
//!
//! Layout choice: NCHW (`[C, H, W]` in, `[C·K·K, OH·OW]` out). With the weights as the `[O, C·K·K]`
//! left operand, the GEMM result `[O, OH·OW]` is already the NCHW output, so consecutive quantized
//! convs chain with no transpose, and im2col copies contiguous runs of a row (stride 1). Padding
//! with the zero point is padding with real 0, so the conv needs no border special case.

use crate::quant::QuantError;

/// Shape of a square-kernel convolution over one `[C, H, W]` image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

impl ConvShape {
    /// A shape, checked: the kernel fits the padded input and the stride is at least 1.
    pub fn new(channels: usize, height: usize, width: usize, kernel: usize, stride: usize, padding: usize) -> Result<Self, QuantError> {
        let s = Self { channels, height, width, kernel, stride, padding };
        if stride == 0 || kernel == 0 || kernel > height + 2 * padding || kernel > width + 2 * padding {
            return Err(QuantError::ConvGeometry { kernel, stride, padding, height, width });
        }
        Ok(s)
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the im2col matrix: `C·K·K`.
    pub fn depth(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the im2col matrix: `OH·OW`.
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }
}

/// Writes the `[C·K·K, OH·OW]` patch matrix of `x` (`[C, H, W]`) into `out`, padding with `zero_point`.
///
/// ```
/// use fasterai_runtime::kernels::generic::im2col_u8::{im2col_u8, ConvShape};
/// let s = ConvShape::new(1, 2, 2, 2, 1, 1).unwrap(); // 3×3 output
/// let mut out = vec![0; s.depth() * s.positions()];
/// im2col_u8(&[1, 2, 3, 4], s, 9, &mut out).unwrap();
/// assert_eq!(&out[..9], &[9, 9, 9, 9, 1, 2, 9, 3, 4]); // kernel tap (0, 0)
/// ```
pub fn im2col_u8(x: &[u8], s: ConvShape, zero_point: u8, out: &mut [u8]) -> Result<(), QuantError> {
    let (h, w) = (s.height, s.width);
    if x.len() != s.channels * h * w {
        return Err(QuantError::LengthMismatch { what: "conv input", expected: s.channels * h * w, found: x.len() });
    }
    let (oh, ow) = (s.out_height(), s.out_width());
    if out.len() != s.depth() * oh * ow {
        return Err(QuantError::LengthMismatch { what: "im2col buffer", expected: s.depth() * oh * ow, found: out.len() });
    }
    for (row, dst) in out.chunks_exact_mut(oh * ow).enumerate() {
        im2col_segment(x, s, zero_point, row, 0, dst);
    }
    Ok(())
}

/// Columns `c0 .. c0 + dst.len()` of row `row` of the patch matrix of `x` (unchecked sizes: the
/// caller checked `x` against `s`). The fused im2col + pack of the quantized conv calls this.
pub(crate) fn im2col_segment(x: &[u8], s: ConvShape, zero_point: u8, row: usize, c0: usize, dst: &mut [u8]) {
    let (h, w, k, ow) = (s.height, s.width, s.kernel, s.out_width());
    let (c, ki, kj) = (row / (k * k), row / k % k, row % k);
    let plane = &x[c * h * w..][..h * w];
    let mut done = 0;
    while done < dst.len() {
        let (y, xa) = ((c0 + done) / ow, (c0 + done) % ow);
        let xb = ow.min(xa + dst.len() - done);
        fill_output_row(plane, s, zero_point, (ki, kj), y, xa..xb, &mut dst[done..done + xb - xa]);
        done += xb - xa;
    }
}

/// Output columns `xs` of output row `y` for kernel tap `(ki, kj)` of one input plane.
fn fill_output_row(plane: &[u8], s: ConvShape, zero_point: u8, (ki, kj): (usize, usize), y: usize, xs: std::ops::Range<usize>, dst: &mut [u8]) {
    let (h, w, pad) = (s.height, s.width, s.padding as isize);
    let iy = (y * s.stride + ki) as isize - pad;
    if iy < 0 || iy >= h as isize {
        dst.fill(zero_point);
        return;
    }
    let src = &plane[iy as usize * w..][..w];
    // Output columns whose input column ix = xo·stride + kj − pad lies in [0, w).
    let first = ((pad - kj as isize).max(0) as usize).div_ceil(s.stride);
    let reach = w as isize + pad - kj as isize - 1; // largest xo·stride that stays inside
    let last = if reach < 0 { 0 } else { reach as usize / s.stride + 1 };
    let first = first.clamp(xs.start, xs.end);
    let last = last.clamp(first, xs.end);
    let (lead, valid) = (first - xs.start, last - first);
    dst[..lead].fill(zero_point);
    dst[lead + valid..].fill(zero_point);
    if s.stride == 1 {
        let start = first + kj - s.padding;
        dst[lead..lead + valid].copy_from_slice(&src[start..start + valid]);
    } else {
        for (xo, d) in dst[lead..lead + valid].iter_mut().enumerate() {
            *d = src[(first + xo) * s.stride + kj - s.padding];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Element by element, the definition.
    fn im2col_plain(x: &[u8], s: ConvShape, zp: u8) -> Vec<u8> {
        let (oh, ow, k) = (s.out_height(), s.out_width(), s.kernel);
        let mut out = Vec::new();
        for c in 0..s.channels {
            for ki in 0..k {
                for kj in 0..k {
                    for y in 0..oh {
                        for xo in 0..ow {
                            let iy = (y * s.stride + ki) as isize - s.padding as isize;
                            let ix = (xo * s.stride + kj) as isize - s.padding as isize;
                            let inside = (0..s.height as isize).contains(&iy) && (0..s.width as isize).contains(&ix);
                            out.push(if inside { x[(c * s.height + iy as usize) * s.width + ix as usize] } else { zp });
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_on_odd_shapes() {
        let mut rng = SmallRng::seed_from_u64(2);
        for (c, h, w, k, st, p) in [(1, 5, 7, 3, 1, 1), (2, 6, 5, 3, 2, 1), (3, 4, 4, 1, 1, 0), (2, 3, 9, 3, 3, 2), (1, 2, 2, 4, 1, 1), (2, 7, 7, 5, 2, 0)] {
            let s = ConvShape::new(c, h, w, k, st, p).unwrap();
            let x: Vec<u8> = (0..c * h * w).map(|_| rng.gen()).collect();
            let mut out = vec![0; s.depth() * s.positions()];
            im2col_u8(&x, s, 77, &mut out).unwrap();
            assert_eq!(out, im2col_plain(&x, s, 77), "{s:?}");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(ConvShape::new(1, 2, 2, 5, 1, 1).is_err());
        assert!(ConvShape::new(1, 4, 4, 3, 0, 1).is_err());
        let s = ConvShape::new(1, 4, 4, 3, 1, 1).unwrap();
        assert!(im2col_u8(&[0; 15], s, 0, &mut [0; 144]).is_err());
        assert!(im2col_u8(&[0; 16], s, 0, &mut [0; 143]).is_err());
    }
}
