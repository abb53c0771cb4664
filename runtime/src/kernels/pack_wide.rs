//! Packing the *wide* patch matrix of a stride-1 conv straight from its padded input, one group of
//! four activation panels (64 columns) at a time: the whole matrix on the calling thread or the
//! pool ([`PackedActivationsU8::pack_padded_im2col`]), or each thread the groups it multiplies
//! ([`PackedActivationsU8::wide_pack`]), so the panels are packed in parallel and stay in the cache
//! of the core that reads them.

use super::pack_i8::{pack_unit, split4, wide_interleave, PanelLayout, WideInterleave, NR};
#[allow(unused_imports)] // the doc links
use super::pack_i8::PackedActivationsU8;

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
    pub(crate) fn panel_len(&self) -> usize {
        self.panel_len
    }

    /// Words per group of four panels.
    pub(crate) fn group_len(&self) -> usize {
        4 * self.panel_len
    }

    /// Groups of four panels (the last may have fewer).
    pub(crate) fn groups(&self) -> usize {
        self.cols.div_ceil(4 * NR)
    }

    /// Packs group `g` (columns `64·g ..`) into `group`, its panels one after the other.
    pub(crate) fn pack_group(&self, g: usize, group: &mut [i32]) {
        let (layout, unit, depth, panel_len) = (self.layout, self.layout.unit(), self.starts.len(), self.panel_len);
        let (padded, starts) = (self.padded, self.starts);
        // Unit `j` of columns `c0 .. c0 + width`: `unit` runs of the padded image (`None` past `depth`).
        let rows = |j: usize, c0: usize, width: usize| -> [Option<&[u8]>; 4] {
            std::array::from_fn(|u| (u < unit && unit * j + u < depth).then(|| &padded[starts[unit * j + u] + c0..][..width]))
        };
        let c0 = 4 * g * NR;
        let width = (4 * NR).min(self.cols - c0);
        let mut first = 0;
        // With AVX-512, each whole unit of four full panels is one 64-column interleave; the rest
        // goes through `pack_unit`.
        #[cfg(target_arch = "x86_64")]
        if let Some(pack_units) = self.wide.filter(|_| width == 4 * NR) {
            let [p0, p1, p2, p3] = split4(group, panel_len);
            // SAFETY: `wide_interleave` returned the kernel only after checking the CPU.
            unsafe { pack_units(padded, starts, c0, [p0, p1, p2, p3]) };
            first = depth / unit;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = self.wide;
        for j in first..panel_len / NR {
            pack_unit(layout, rows(j, c0, width), &mut group[j * NR..], panel_len);
        }
    }
}
