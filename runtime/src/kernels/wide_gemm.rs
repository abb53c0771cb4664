//! A stride-1 conv's wide patch matrix packed and multiplied four activation panels (64 columns)
//! at a time, on the tile kernels: each thread takes an even share of the panels and packs each
//! four just before it multiplies them, so the tiles read them from the core's own cache. Packed
//! whole first, ResNet-18's 56×56 patch matrices (576 rows × 3,248 columns, 1.9 MB) outgrow a
//! core's L2 and every block of output channels streams them back from L3.
//!
//! The integers are those of [`Int8Kernels::gemm_u8_into`] on the same matrix: the same tiles, in
//! the same order of depth.

use super::generic::im2col_u8::ConvShape;
use super::int8::{column_share, Block, Int8Kernels, Sink, Split, Tiles};
use super::pack_i8::{PackedActivationsU8, PackedWeightsI8, MR, NR};
use super::team::{Chunks, Team};
use super::types::TileStage;
use crate::quant::{OutputStage, QuantError};

/// Activation panels per group (the packer's unit of work).
const GROUP_PANELS: usize = 4;

impl Int8Kernels {
    /// `sink ← stage(a · P)` where `P` is the wide patch matrix of the stride-1 conv of `shape`
    /// over `padded` (`cols` columns; with `steps`, only those rows of it: see
    /// [`PackedActivationsU8::pack_padded_im2col`]), packed into `packed` four panels at a time.
    /// The panels are split over the team when `split` is [`Split::Columns`], run on the caller when
    /// [`Split::Sequential`]; a split by rows is an error (the caller packs whole for that one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv_wide_u8(
        &self,
        a: &PackedWeightsI8,
        packed: &mut PackedActivationsU8,
        (padded, shape, cols, steps): (&[u8], ConvShape, usize, Option<&[usize]>),
        starts: &mut Vec<usize>,
        stage: &OutputStage,
        sink: &Sink<u8>,
        split: Split,
    ) -> Result<(), QuantError> {
        let depth = steps.map_or(shape.depth(), <[usize]>::len);
        self.check_operands(a, packed.layout(), depth)?;
        if stage.channels.len() != a.rows() {
            return Err(QuantError::LengthMismatch { what: "output stage", expected: a.rows(), found: stage.channels.len() });
        }
        let threads = match split {
            Split::Columns => Team::global().threads(),
            Split::Sequential => 1,
            _ => return Err(QuantError::UnsupportedKernel { what: "the four-panel wide conv splits by columns or not at all" }),
        };
        let (m, tiles) = (a.rows(), self.tiles_for(a));
        if m == 0 || cols == 0 {
            return Ok(());
        }
        let (pack, data) = packed.wide_pack(padded, shape, cols, steps, starts);
        let (panel_len, col_panels) = (pack.group_len() / GROUP_PANELS, cols.div_ceil(NR));
        let pair = self.pair.filter(|_| tiles.layout == self.layout);
        // Even shares of panels, as `gemm_u8_into` splits columns.
        let per = column_share(col_panels, threads, pair.is_some());
        let shares = Chunks::new(data, per * panel_len);
        let tile_stage = |p: usize| TileStage::panel(stage, p);
        let share = |t: usize| {
            // SAFETY: share `t` is taken by this call only, and each share runs once.
            let share = unsafe { shares.get(t) };
            for (i, group) in share.chunks_mut(GROUP_PANELS * panel_len).enumerate() {
                let first = t * per + GROUP_PANELS * i;
                pack.pack_panels(first, group);
                let group: &[i32] = group;
                let panel = |q: usize| &group[(q - first) * panel_len..][..panel_len];
                let one = |p: usize, q: usize, dst: &mut [u8; MR * NR]| (tiles.tile_u8)(a.panel(p), panel(q), tile_stage(p), dst);
                let two = pair.map(|pair| {
                    move |p: usize, q: usize, dst: &mut [[u8; MR * NR]; 2]| {
                        (pair.tile_u8)(a.panel(p), panel(q), panel(q + 1), tile_stage(p), dst)
                    }
                });
                let block = Block { rows: 0..m.div_ceil(MR), cols: first..first + group.len() / panel_len, m, n: cols };
                block.run(sink, &Tiles { one, two });
            }
        };
        if threads == 1 {
            share(0);
        } else {
            Team::global().run(shares.count(), &|tasks| tasks.for_each(share));
        }
        Ok(())
    }
}
