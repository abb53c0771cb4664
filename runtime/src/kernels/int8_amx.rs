//! The int8 product on AMX tiles: the driver of [`super::x86_64::gemm_i8_amx`].
//!
//! Each step computes two row tiles (32 output channels) against two activation panels (32
//! columns): four `16 × 16` sums, requantized and stored where the [`Sink`] places them, so the
//! wide columns of a conv are dropped as on the AVX-512 path. Shares go to the team by pairs of
//! column panels, or by pairs of row tiles when the columns are too few. A stride-1 conv split by
//! columns packs its patch matrix inside the shares ([`conv_wide`]): each thread packs the panels
//! it multiplies, in parallel, and reads them back from its own cache.

use std::ops::Range;

use super::generic::im2col_u8::ConvShape;
use super::int8::{Sink, Split, TileStage};
use super::pack_i8::{PackedActivationsU8, NR};
use super::pack_tiles::{TiledWeightsI8, TILE_ROWS};
use super::team::{Chunks, Team};
use super::x86_64::gemm_i8_amx::{block, configure, release, store_block, BlockPlace, BlockSums};

/// The operands and output of one product: weights (`m` rows), the output stage and the sink.
struct Product<'a> {
    w: &'a TiledWeightsI8,
    m: usize,
    n: usize,
    stage: TileStage<'a>,
    sink: &'a Sink<u8>,
}

impl Product<'_> {
    /// Row-tile pairs `rows` × column-panel pairs `cols`, reading activation panel `q` from `panel(q)`.
    ///
    /// # Safety
    /// AMX must be available, and every panel `panel` returns must hold the depth units of
    /// `w.chunks()` tiles.
    unsafe fn run<'p>(&self, rows: Range<usize>, cols: Range<usize>, panel: impl Fn(usize) -> &'p [i32]) {
        let (w, m, n, sink) = (self.w, self.m, self.n, self.sink);
        let col_panels = n.div_ceil(NR);
        let words = w.chunks() * TILE_ROWS * NR;
        let (out, len) = sink.raw();
        let stride = sink.row_start(1);
        // SAFETY: the caller checked AMX; configure/release bracket every block on this thread.
        unsafe { configure() };
        let mut sums: BlockSums = [[0; TILE_ROWS * NR]; 4];
        for pair in cols {
            let first = 2 * pair;
            let count = if first + 1 < col_panels { 2 } else { 1 };
            let panels: [Option<&[i32]>; 2] = std::array::from_fn(|k| (k < count).then(|| panel(first + k)));
            assert!(panels.iter().flatten().all(|p| p.len() >= words), "activation panels hold the weights' depth");
            let places: [_; 2] = std::array::from_fn(|k| {
                let col = ((first + k) * NR).min(n);
                sink.place(col, NR.min(n - col))
            });
            for rp in rows.clone() {
                let first_channel = 2 * rp * TILE_ROWS;
                if first_channel >= m {
                    break;
                }
                let last = (first_channel + 2 * TILE_ROWS).min(m) - 1;
                let place = BlockPlace { out, row_stride: stride, runs: places.each_ref().map(|p| &p.runs[..p.count]) };
                let fits = |runs: &[(usize, usize, usize)]| runs.iter().all(|&(lane, at, n)| lane + n <= NR && last * stride + at + n <= len);
                assert!(place.runs.iter().take(count).all(|r| fits(r)), "a tile wrote past the output");
                // SAFETY: configured above; each panel holds the words `block` reads (checked).
                // AMX (checked by the caller) implies AVX-512 F/BW/VL; every run of every row is
                // inside the output (checked for the last row, the others start lower) and this
                // thread is the only one writing it (the sink's contract: one thread per element).
                unsafe {
                    block(w, 2 * rp, panels.map(|p| p.map(<[i32]>::as_ptr)), &mut sums);
                    store_block(&sums, count, &self.stage, first_channel, m, &place);
                }
            }
        }
        // SAFETY: as for `configure`.
        unsafe { release() };
    }

    /// How `split` spreads this product: `None` on the calling thread, else by rows or columns.
    fn split(&self, split: Split) -> Option<Split> {
        let threads = Team::global().threads();
        let (row_pairs, col_pairs) = (self.w.row_tiles() / 2, self.n.div_ceil(NR).div_ceil(2));
        match split.for_work(self.m * self.n * self.w.chunks() * 64) {
            Split::Sequential => None,
            Split::Auto if threads <= 1 => None,
            Split::Auto if col_pairs >= 2 * threads || row_pairs < threads => Some(Split::Columns),
            Split::Auto => Some(Split::Rows),
            other => Some(other),
        }
    }
}

/// `sink ← stage(w · b)` for the `m` rows of `w` and the packed activations `b`, whose panels hold
/// `w.chunks() · 16` depth units.
///
/// # Safety
/// [`super::x86_64::gemm_i8_amx::available`] must have returned true.
pub(crate) unsafe fn gemm_u8(w: &TiledWeightsI8, m: usize, b: &PackedActivationsU8, stage: TileStage<'_>, sink: &Sink<u8>, split: Split) {
    let product = Product { w, m, n: b.cols(), stage, sink };
    let (row_pairs, col_pairs) = (w.row_tiles() / 2, b.cols().div_ceil(NR).div_ceil(2));
    if m == 0 || b.cols() == 0 {
        return;
    }
    let panel = |q: usize| b.panel(q);
    let team = Team::global();
    let threads = team.threads();
    // SAFETY (every `run`): the caller checked AMX; `b`'s panels hold the weights' depth.
    match product.split(split) {
        None => unsafe { product.run(0..row_pairs, 0..col_pairs, panel) },
        Some(Split::Rows) => {
            let per = row_pairs.div_ceil(threads).max(1);
            team.run(row_pairs.div_ceil(per), &|shares| {
                for t in shares {
                    unsafe { product.run(t * per..((t + 1) * per).min(row_pairs), 0..col_pairs, panel) };
                }
            });
        }
        Some(_) => {
            let per = col_pairs.div_ceil(threads).max(1);
            team.run(col_pairs.div_ceil(per), &|shares| {
                for t in shares {
                    unsafe { product.run(0..row_pairs, t * per..((t + 1) * per).min(col_pairs), panel) };
                }
            });
        }
    }
}

/// The wide patch matrix of a stride-1 conv (`cols` columns, read from `padded`) packed into
/// `packed` and multiplied by `w` into `sink`. Split by columns, every share packs its own groups
/// of four panels before multiplying them; otherwise the matrix is packed first, then multiplied.
///
/// # Safety
/// [`super::x86_64::gemm_i8_amx::available`] must have returned true, and `packed` must have been
/// made for tiles ([`PackedActivationsU8::new_for_tiles`]) with the weights' layout.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv_wide(
    w: &TiledWeightsI8,
    m: usize,
    packed: &mut PackedActivationsU8,
    (padded, shape, cols): (&[u8], ConvShape, usize),
    starts: &mut Vec<usize>,
    stage: TileStage<'_>,
    sink: &Sink<u8>,
    split: Split,
) {
    let product = Product { w, m, n: cols, stage, sink };
    if product.split(split) != Some(Split::Columns) || m == 0 || cols == 0 {
        packed.pack_padded_im2col(padded, shape, cols, starts);
        // SAFETY: as for this function.
        return unsafe { gemm_u8(w, m, packed, stage, sink, split) };
    }
    let row_pairs = w.row_tiles() / 2;
    let col_pairs = cols.div_ceil(NR).div_ceil(2);
    let (pack, data) = packed.wide_pack(padded, shape, cols, starts);
    let (panel_len, groups) = (pack.panel_len(), pack.groups());
    // Whole groups of four panels (two column pairs) per share, one share per thread.
    let per = groups.div_ceil(Team::global().threads()).max(1);
    let shares = Chunks::new(data, per * pack.group_len());
    Team::global().run(shares.count(), &|tasks| {
        for t in tasks {
            // SAFETY: `Team::run` hands each share index to one thread once.
            let share = unsafe { shares.get(t) };
            for (i, group) in share.chunks_mut(pack.group_len()).enumerate() {
                pack.pack_group(t * per + i, group);
            }
            let share: &[i32] = share;
            let first_panel = 4 * t * per;
            let pairs = 2 * t * per..(2 * (t + 1) * per).min(col_pairs);
            // SAFETY: the caller checked AMX and made `packed` for tiles, so its panels hold the
            // weights' depth; this share reads only the panels it packed.
            unsafe { product.run(0..row_pairs, pairs, |q| &share[(q - first_panel) * panel_len..][..panel_len]) };
        }
    });
}
