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
use super::int8_sink::Sink;
use super::types::{Split, TileStage};
use super::pack_i8::{PackedActivationsU8, NR};
use super::pack_tiles::{TiledWeightsI8, TILE_ROWS};
use super::team::{Chunks, Team};
use super::conv_quads::QuadGeometry;
use super::x86_64::gemm_i8_amx::{block, block_strided, configure, release, store_block, BlockPlace, BlockSums};

/// The operands and output of one product: weights (`m` rows), the output stage and the sink.
struct Product<'a> {
    w: &'a TiledWeightsI8,
    m: usize,
    n: usize,
    stage: TileStage<'a>,
    sink: &'a Sink<u8>,
}

impl Product<'_> {
    /// Row-tile pairs `rows` × column-panel pairs `cols`: `sums(i, q, count, sums)` computes row
    /// tiles `i, i + 1` against `count` (1 or 2) panels from `q` on (a [`block`] or
    /// [`block_strided`] checked against its operands), and this stores them.
    ///
    /// # Safety
    /// AMX must be available; `sums` runs on the tile configuration this sets.
    unsafe fn run(&self, rows: Range<usize>, cols: Range<usize>, units: usize, sums: impl Fn(usize, usize, usize, &mut BlockSums)) {
        let (m, n, sink) = (self.m, self.n, self.sink);
        let col_panels = n.div_ceil(NR);
        let (out, len) = sink.raw();
        let stride = sink.row_start(1);
        // SAFETY: the caller checked AMX; configure/release bracket every block on this thread.
        unsafe { configure(units) };
        let mut tile_sums: BlockSums = [[0; TILE_ROWS * NR]; 4];
        for pair in cols {
            let first = 2 * pair;
            let count = if first + 1 < col_panels { 2 } else { 1 };
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
                sums(2 * rp, first, count, &mut tile_sums);
                // SAFETY: AMX (checked by the caller) implies AVX-512 F/BW/VL; every run of every
                // row is inside the output (checked for the last row, the others start lower) and
                // this thread is the only one writing it (the sink's contract: one thread per element).
                unsafe { store_block(&tile_sums, count, &self.stage, first_channel, m, &place) };
            }
        }
        // SAFETY: as for `configure`.
        unsafe { release() };
    }

    /// [`Self::run`] reading activation panel `q` from `panel(q)` (packed panels).
    ///
    /// # Safety
    /// AMX must be available.
    unsafe fn run_packed<'p>(&self, rows: Range<usize>, cols: Range<usize>, panel: impl Fn(usize) -> &'p [i32]) {
        let words = self.w.chunks() * TILE_ROWS * NR;
        let sums = |i: usize, q: usize, count: usize, sums: &mut BlockSums| {
            let panels: [Option<&[i32]>; 2] = std::array::from_fn(|k| (k < count).then(|| panel(q + k)));
            assert!(panels.iter().flatten().all(|p| p.len() >= words), "activation panels hold the weights' depth");
            // SAFETY: `run` configured the tiles; each panel holds the words `block` reads (checked).
            unsafe { block(self.w, i, panels.map(|p| p.map(<[i32]>::as_ptr)), sums) };
        };
        // SAFETY: the caller checked AMX.
        unsafe { self.run(rows, cols, self.w.tile_units(), sums) };
    }

    /// How `split` spreads this product: `None` on the calling thread, else by rows or columns.
    fn split(&self, split: Split) -> Option<Split> {
        let threads = Team::global().threads();
        let (row_pairs, col_pairs) = (self.w.row_tiles() / 2, self.n.div_ceil(NR).div_ceil(2));
        match split.for_work(self.m * self.n * self.w.chunks() * 64) {
            Split::Sequential => None,
            Split::Auto if threads <= 1 => None,
            // The split whose largest share has fewer blocks; columns on a tie (each thread then
            // reads only its own activations). SmallVgg's 14×14 convs (2 × 7 blocks) go by rows.
            Split::Auto if col_pairs.div_ceil(threads) * row_pairs <= row_pairs.div_ceil(threads) * col_pairs => Some(Split::Columns),
            Split::Auto => Some(Split::Rows),
            other => Some(other),
        }
    }

    /// Runs `run(row_pairs, col_pairs)` over the whole product as [`Self::split`] decides: on this
    /// thread, or one contiguous share of row-tile pairs or column-panel pairs per team thread.
    fn spread(&self, split: Split, run: impl Fn(Range<usize>, Range<usize>) + Sync) {
        let (row_pairs, col_pairs) = (self.w.row_tiles() / 2, self.n.div_ceil(NR).div_ceil(2));
        let team = Team::global();
        let share = |count: usize| count.div_ceil(team.threads()).max(1);
        match self.split(split) {
            None => run(0..row_pairs, 0..col_pairs),
            Some(Split::Rows) => {
                let per = share(row_pairs);
                team.run(row_pairs.div_ceil(per), &|shares| {
                    for t in shares {
                        run(t * per..((t + 1) * per).min(row_pairs), 0..col_pairs);
                    }
                });
            }
            Some(_) => {
                let per = share(col_pairs);
                team.run(col_pairs.div_ceil(per), &|shares| {
                    for t in shares {
                        run(0..row_pairs, t * per..((t + 1) * per).min(col_pairs));
                    }
                });
            }
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
    if m == 0 || b.cols() == 0 {
        return;
    }
    let panel = |q: usize| b.panel(q);
    // SAFETY: the caller checked AMX; `b`'s panels hold the weights' depth (checked per block).
    product.spread(split, |rows, cols| unsafe { product.run_packed(rows, cols, panel) });
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
        packed.pack_padded_im2col(padded, shape, cols, None, starts);
        // SAFETY: as for this function.
        return unsafe { gemm_u8(w, m, packed, stage, sink, split) };
    }
    let row_pairs = w.row_tiles() / 2;
    let col_pairs = cols.div_ceil(NR).div_ceil(2);
    let (pack, data) = packed.wide_pack(padded, shape, cols, None, starts);
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
            unsafe { product.run_packed(0..row_pairs, pairs, |q| &share[(q - first_panel) * panel_len..][..panel_len]) };
        }
    });
}

/// A stride-1 conv read in place from its channel-quad input `quads` (laid out by
/// [`QuadGeometry::fill`]), with `w` from [`QuadGeometry::weights`] and `steps` from
/// [`QuadGeometry::steps`]; the `cols` wide columns are split over the team by pairs of panels.
///
/// # Safety
/// [`super::x86_64::gemm_i8_amx::available`] must have returned true.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn conv_quads(
    w: &TiledWeightsI8,
    m: usize,
    (geometry, quads, steps): (&QuadGeometry, &[u8], &[usize]),
    cols: usize,
    stage: TileStage<'_>,
    sink: &Sink<u8>,
    split: Split,
) {
    let product = Product { w, m, n: cols, stage, sink };
    if m == 0 || cols == 0 {
        return;
    }
    assert_eq!(steps.len(), w.chunks(), "one weight tile per depth step");
    let (stride, units) = (geometry.plane(), geometry.tile_units());
    let reach = steps.iter().max().copied().unwrap_or(0) + (units - 1) * stride + 4 * NR;
    let sums = |i: usize, q: usize, count: usize, sums: &mut BlockSums| {
        // Panel `q`'s words start `4·NR·q` bytes in; every tile read stays below `reach` past it.
        assert!(4 * NR * (q + count - 1) + reach <= quads.len(), "activation tiles inside the quads");
        let columns: [Option<*const u8>; 2] = std::array::from_fn(|k| (k < count).then(|| quads[4 * NR * (q + k)..].as_ptr()));
        // SAFETY: `run` configured the tiles; every row read is inside `quads` (checked).
        unsafe { block_strided(w, i, columns, steps, stride, sums) };
    };
    // SAFETY: the caller checked AMX.
    product.spread(split, |rows, cols| unsafe { product.run(rows, cols, units, sums) });
}
