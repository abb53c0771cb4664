//! Packing the *wide* patch matrix of a stride-1 conv straight from its padded input, one group of
//! four activation panels (64 columns) at a time: the whole matrix on the calling thread or the
//! pool ([`PackedActivationsU8::pack_padded_im2col`]), or each thread the groups it multiplies
//! ([`PackedActivationsU8::wide_pack`]), so the panels are packed in parallel and stay in the cache
//! of the core that reads them.

use super::generic::im2col_u8::ConvShape;
#[cfg(target_arch = "x86_64")]
use super::pack_i8::split4;
use super::pack_i8::{pack_unit, padded_row_start, wide_interleave, PackedActivationsU8, PanelLayout, WideInterleave, NR, PARALLEL_PACK};
use super::team::for_each_chunk;

impl PackedActivationsU8 {
    /// Packs the patch matrix of a stride-1 conv in *wide* form, read straight from its padded input
    /// `padded` (`[C, H + 2p, W + 2p]`, borders holding the zero point): column `q = y·(W + 2p) + x`
    /// is output position `(y, x)` for `x < OW`, and the `W + 2p − OW` columns after each output row
    /// are junk whose results the caller drops. Each patch row is then one contiguous run of
    /// `padded`, so packing is a plain interleave. `cols` is [`wide_columns`](super::pack_i8::wide_columns)`(shape)`.
    ///
    /// With `steps`, the matrix holds only those rows of the patch matrix, in that order (a stride-2
    /// conv over its input's phases without the zero taps, [`SpaceToDepth::tap_steps`](super::SpaceToDepth::tap_steps)).
    pub(crate) fn pack_padded_im2col(&mut self, padded: &[u8], shape: ConvShape, cols: usize, steps: Option<&[usize]>, starts: &mut Vec<usize>) {
        let parallel = steps.map_or(shape.depth(), <[usize]>::len) * cols >= PARALLEL_PACK;
        let (pack, data) = self.wide_pack(padded, shape, cols, steps, starts);
        for_each_chunk(data, pack.group_len().max(1), parallel, |g, group| pack.pack_group(g, group));
    }

    /// Sizes the buffer for the wide patch matrix of [`Self::pack_padded_im2col`] and returns its
    /// packer with the buffer's panels, for callers that pack groups of panels themselves (each
    /// thread the panels it multiplies).
    pub(crate) fn wide_pack<'a>(&'a mut self, padded: &'a [u8], shape: ConvShape, cols: usize, steps: Option<&[usize]>, starts: &'a mut Vec<usize>) -> (WidePack<'a>, &'a mut [i32]) {
        debug_assert_eq!(shape.stride, 1);
        debug_assert_eq!(padded.len(), shape.channels * (shape.height + 2 * shape.padding) * (shape.width + 2 * shape.padding));
        starts.clear();
        match steps {
            Some(steps) => starts.extend(steps.iter().map(|&r| padded_row_start(shape, r))),
            None => starts.extend((0..shape.depth()).map(|r| padded_row_start(shape, r))),
        }
        let panel_len = self.reset(starts.len(), cols);
        let layout = self.layout;
        let len = self.panels() * panel_len;
        (WidePack::new(padded, starts, layout, cols, panel_len), &mut self.data[..len])
    }
}

/// The packer of one wide patch matrix: which runs of the padded image make each depth unit.
pub(crate) struct WidePack<'a> {
    padded: &'a [u8],
    /// Where patch row `r` starts in `padded`.
    starts: &'a [usize],
    layout: PanelLayout,
    cols: usize,
    panel_len: usize,
    wide: Option<WideInterleave>,
}

impl<'a> WidePack<'a> {
    pub(crate) fn new(padded: &'a [u8], starts: &'a [usize], layout: PanelLayout, cols: usize, panel_len: usize) -> Self {
        Self { padded, starts, layout, cols, panel_len, wide: wide_interleave(layout) }
    }

    /// Words per panel.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn panel_len(&self) -> usize {
        self.panel_len
    }

    /// Words per group of four panels.
    pub(crate) fn group_len(&self) -> usize {
        4 * self.panel_len
    }

    /// Groups of four panels (the last may have fewer).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn groups(&self) -> usize {
        self.cols.div_ceil(4 * NR)
    }

    /// Packs group `g` (columns `64·g ..`) into `group`, its panels one after the other.
    pub(crate) fn pack_group(&self, g: usize, group: &mut [i32]) {
        self.pack_panels(4 * g, group);
    }

    /// Packs up to four panels from panel `first` on (columns `16·first ..`) into `group`, one
    /// after the other: as many as `group` holds, at most to the last column.
    pub(crate) fn pack_panels(&self, first: usize, group: &mut [i32]) {
        let (layout, unit, depth, panel_len) = (self.layout, self.layout.unit(), self.starts.len(), self.panel_len);
        let (padded, starts) = (self.padded, self.starts);
        // Unit `j` of columns `c0 .. c0 + width`: `unit` runs of the padded image (`None` past `depth`).
        let rows = |j: usize, c0: usize, width: usize| -> [Option<&[u8]>; 4] {
            std::array::from_fn(|u| (u < unit && unit * j + u < depth).then(|| &padded[starts[unit * j + u] + c0..][..width]))
        };
        let c0 = first * NR;
        let width = (4 * NR).min(self.cols - c0).min(group.len() / panel_len.max(1) * NR);
        // With AVX-512, each whole unit of four full panels is one 64-column interleave; the rest
        // goes through `pack_unit`.
        #[cfg(target_arch = "x86_64")]
        let first = match self.wide.filter(|_| width == 4 * NR) {
            Some(pack_units) => {
                let [p0, p1, p2, p3] = split4(group, panel_len);
                // SAFETY: `wide_interleave` returned the kernel only after checking the CPU.
                unsafe { pack_units(padded, starts, c0, [p0, p1, p2, p3]) };
                depth / unit
            }
            None => 0,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (first, _) = (0, self.wide);
        for j in first..panel_len / NR {
            pack_unit(layout, rows(j, c0, width), &mut group[j * NR..], panel_len);
        }
    }
}
