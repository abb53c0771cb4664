//! The skip connections of a frozen plan: what a residual block's `Fork` keeps, what its
//! `Shortcut` puts aside, and the `Add` that ends it. Buffers are kept from run to run, so a plan
//! allocates them once.

use super::DeployError;

/// The open blocks of one run (innermost last), each with the input it kept and, once its
/// shortcut began, the main path's output; `T` is `f32` in the fp32 plan, `u8` in the int8 one.
/// Buffers are at least `width` long (the plan's widest map), so that one can trade places with
/// the plan's own ([`Self::close_into`]).
#[derive(Debug, Clone)]
pub(crate) struct Skips<T> {
    kept: Vec<Vec<T>>,
    main: Vec<Vec<T>>,
    /// Values held in `kept` and `main` at each depth.
    lens: Vec<(usize, usize)>,
    /// Whether the block at each depth has begun its shortcut.
    shortcut: Vec<bool>,
    depth: usize,
    width: usize,
}

impl<T> Default for Skips<T> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T> Skips<T> {
    /// Skips whose buffers are at least `width` long.
    pub(crate) fn new(width: usize) -> Self {
        Self { kept: Vec::new(), main: Vec::new(), lens: Vec::new(), shortcut: Vec::new(), depth: 0, width }
    }
}

impl<T: Copy + Default> Skips<T> {
    /// Forgets the blocks of an earlier run that stopped on an error.
    pub(crate) fn reset(&mut self) {
        self.depth = 0;
    }

    /// Copies `x` into `buffer`, grown to at least the width first.
    fn keep(buffer: &mut Vec<T>, x: &[T], width: usize) {
        if buffer.len() < x.len().max(width) {
            buffer.resize(x.len().max(width), T::default());
        }
        buffer[..x.len()].copy_from_slice(x);
    }

    /// A block begins: keeps its input `x`.
    pub(crate) fn fork(&mut self, x: &[T]) {
        self.open();
        Self::keep(&mut self.kept[self.depth], x, self.width);
        self.begin(x.len());
    }

    /// A block begins whose first layer reads its input where it is kept ([`Self::kept`]): the
    /// first `len` values of `front` trade places with the kept buffer, nothing is copied, and
    /// `front` comes back at least the width long (its values are not the input's).
    pub(crate) fn fork_in_place(&mut self, front: &mut Vec<T>, len: usize) {
        self.open();
        let kept = &mut self.kept[self.depth];
        if kept.len() < front.len().max(self.width) {
            kept.resize(front.len().max(self.width), T::default());
        }
        std::mem::swap(kept, front);
        self.begin(len);
    }

    /// The input the innermost open block kept.
    pub(crate) fn kept(&self, layer: &'static str) -> Result<&[T], DeployError> {
        let top = self.top(layer)?;
        Ok(&self.kept[top][..self.lens[top].0])
    }

    /// Makes room for one more open block.
    fn open(&mut self) {
        if self.kept.len() == self.depth {
            self.kept.push(Vec::new());
            self.main.push(vec![T::default(); self.width]);
            self.lens.push((0, 0));
            self.shortcut.push(false);
        }
    }

    /// Opens the block whose input of `len` values was just kept.
    fn begin(&mut self, len: usize) {
        self.lens[self.depth] = (len, 0);
        self.shortcut[self.depth] = false;
        self.depth += 1;
    }

    /// The block's shortcut begins: the main path's output, the first `len` values of `front`,
    /// trades places with the block's input, which the shortcut layers then take from `front`;
    /// returns the input's length. Nothing is copied (`front` must be at least the width long).
    pub(crate) fn shortcut(&mut self, front: &mut Vec<T>, len: usize, layer: &'static str) -> Result<usize, DeployError> {
        let top = self.top(layer)?;
        std::mem::swap(&mut self.main[top], front);
        std::mem::swap(front, &mut self.kept[top]);
        self.lens[top].1 = len;
        self.shortcut[top] = true;
        Ok(self.lens[top].0)
    }

    /// The block ends: closes it and returns the side to add to the current map of `len` values
    /// (the main path's output after a shortcut, else the kept input).
    pub(crate) fn close(&mut self, len: usize, layer: &'static str) -> Result<&[T], DeployError> {
        let side = self.close_into(len, layer)?;
        Ok(&side[..len])
    }

    /// [`Self::close`] for a conv that adds into the other side in place: that side's whole
    /// buffer (its first `len` values the side, at least the width long), which the caller may
    /// swap with its own.
    pub(crate) fn close_into(&mut self, len: usize, layer: &'static str) -> Result<&mut Vec<T>, DeployError> {
        let top = self.top(layer)?;
        self.depth = top;
        let (kept, main) = self.lens[top];
        let (other, other_len) = if self.shortcut[top] { (&mut self.main[top], main) } else { (&mut self.kept[top], kept) };
        if other_len != len {
            return Err(DeployError::Residual { layer, reason: "the two sides of the add differ in length" });
        }
        Ok(other)
    }

    fn top(&self, layer: &'static str) -> Result<usize, DeployError> {
        self.depth.checked_sub(1).ok_or(DeployError::no_open_block(layer))
    }
}

/// `x += other`, then ReLU (NaN kept, as the model's forward) if `relu`.
pub(crate) fn add_f32(x: &mut [f32], other: &[f32], relu: bool) {
    for (y, o) in x.iter_mut().zip(other) {
        let sum = *y + o;
        *y = if relu && sum < 0.0 { 0.0 } else { sum };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(skips: &mut Skips<f32>, x: &mut [f32], relu: bool) -> Result<(), DeployError> {
        let other = skips.close(x.len(), "b:add")?;
        add_f32(x, other, relu);
        Ok(())
    }

    #[test]
    fn an_identity_block_adds_its_input() {
        let mut skips = Skips::default();
        skips.fork(&[1.0, -2.0]);
        let mut x = [0.5, 1.0];
        add(&mut skips, &mut x, true).unwrap();
        assert_eq!(x, [1.5, 0.0]);
    }

    #[test]
    fn a_shortcut_runs_on_the_kept_input_and_meets_the_main_path() {
        let mut skips = Skips::default();
        skips.fork(&[1.0, 2.0, 3.0]);
        let mut front = vec![10.0, 0.0, 0.0];
        assert_eq!(skips.shortcut(&mut front, 1, "b:shortcut").unwrap(), 3);
        assert_eq!(front, [1.0, 2.0, 3.0]);
        let mut shortcut_out = [-12.0];
        add(&mut skips, &mut shortcut_out, false).unwrap();
        assert_eq!(shortcut_out, [-2.0]);
    }

    #[test]
    fn a_block_kept_in_place_reads_back_and_adds_its_input() {
        let mut skips = Skips::new(4);
        let mut front = vec![1.0, -2.0, 3.0, 9.0];
        skips.fork_in_place(&mut front, 3);
        assert!(front.len() >= 4, "front stays the width long");
        assert_eq!(skips.kept("b").unwrap(), &[1.0, -2.0, 3.0]);
        let mut x = vec![0.5, 0.5, 0.5];
        add(&mut skips, &mut x, true).unwrap();
        assert_eq!(x, vec![1.5, 0.0, 3.5]);
        assert!(matches!(skips.kept("c"), Err(DeployError::Residual { .. })), "no block is open");
    }

    #[test]
    fn a_closed_side_is_a_whole_buffer_to_trade() {
        let mut skips = Skips::new(4);
        skips.fork(&[1.0, 2.0]);
        let side = skips.close_into(2, "b:add").unwrap();
        assert_eq!(side, &[1.0, 2.0, 0.0, 0.0]);
        assert!(matches!(skips.close_into(2, "b:add"), Err(DeployError::Residual { .. })));
    }

    #[test]
    fn nan_passes_the_relu_and_a_stray_add_is_an_error() {
        let mut skips = Skips::default();
        skips.fork(&[f32::NAN]);
        let mut x = [1.0];
        add(&mut skips, &mut x, true).unwrap();
        assert!(x[0].is_nan());
        assert!(matches!(add(&mut skips, &mut x, true), Err(DeployError::Residual { .. })));
    }
}
