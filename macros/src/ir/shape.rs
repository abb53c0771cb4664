//! Per-sample shapes and the window arithmetic of convolutions and pools.

use std::fmt;

/// The shape of one sample between two layers (no batch dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `c` channels of `h × w`.
    Chw { c: usize, h: usize, w: usize },
    /// `n` features.
    Flat { n: usize },
}

impl Shape {
    /// Values per sample.
    pub fn numel(&self) -> usize {
        match *self {
            Shape::Chw { c, h, w } => c * h * w,
            Shape::Flat { n } => n,
        }
    }

    /// The dimensions without the batch, as the runtime's `ShapeInfo` and the realize helper take them.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Chw { c, h, w } => vec![c, h, w],
            Shape::Flat { n } => vec![n],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Chw { c, h, w } => write!(f, "{c}×{h}×{w} feature map"),
            Shape::Flat { n } => write!(f, "{n} flat features"),
        }
    }
}

/// Why a window (kernel, stride, padding) cannot slide over an input of some size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTooLarge {
    pub size: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl fmt::Display for WindowTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let WindowTooLarge { size, kernel, stride, padding } = *self;
        write!(
            f,
            "(size + 2·padding − kernel) / stride + 1 = ({size} + 2·{padding} − {kernel}) / {stride} + 1 \
             leaves no output position",
        )
    }
}

/// Output positions of a window sliding along one axis: `(size + 2·padding − kernel) / stride + 1`.
/// Zero positions (the kernel is larger than the padded input) is an error, as is a zero stride or
/// kernel (callers reject those earlier with their own message).
pub fn window_output(size: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize, WindowTooLarge> {
    let too_large = WindowTooLarge { size, kernel, stride, padding };
    if kernel == 0 || stride == 0 {
        return Err(too_large);
    }
    let padded = size + 2 * padding;
    if padded < kernel {
        return Err(too_large);
    }
    Ok((padded - kernel) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_output_matches_the_formula() {
        // (28 + 2 - 3)/1 + 1 = 28 ("same" convolution)
        assert_eq!(window_output(28, 3, 1, 1), Ok(28));
        // 2x2 max pool, stride 2: 28 -> 14 -> 7 -> 3 (floor)
        assert_eq!(window_output(28, 2, 2, 0), Ok(14));
        assert_eq!(window_output(7, 2, 2, 0), Ok(3));
        // strided convolution: (32 + 2 - 3)/2 + 1 = 16
        assert_eq!(window_output(32, 3, 2, 1), Ok(16));
        // kernel exactly the padded size gives one position
        assert_eq!(window_output(1, 3, 1, 1), Ok(1));
    }

    #[test]
    fn window_output_rejects_zero_positions() {
        let err = window_output(2, 3, 1, 0).unwrap_err();
        assert_eq!(err, WindowTooLarge { size: 2, kernel: 3, stride: 1, padding: 0 });
        assert_eq!(
            err.to_string(),
            "(size + 2·padding − kernel) / stride + 1 = (2 + 2·0 − 3) / 1 + 1 leaves no output position"
        );
        assert!(window_output(5, 0, 1, 0).is_err());
        assert!(window_output(5, 1, 0, 0).is_err());
    }

    #[test]
    fn shapes_count_and_print() {
        let map = Shape::Chw { c: 64, h: 7, w: 7 };
        assert_eq!(map.numel(), 3136);
        assert_eq!(map.dims(), vec![64, 7, 7]);
        assert_eq!(map.to_string(), "64×7×7 feature map");
        assert_eq!(Shape::Flat { n: 10 }.to_string(), "10 flat features");
    }
}
