//! Weights laid out for matrix tile units (Intel AMX): `16 × 64` blocks of `i8`, one after the other.
//!
//! ```
//! use fasterai_runtime::kernels::pack_tiles::{TiledWeightsI8, TILE_DEPTH};
//! let w = TiledWeightsI8::new(&[1, 2, 3, 4, 5, 6], 2, 3); // 2 × 3
//! assert_eq!((w.row_tiles(), w.chunks()), (2, 1)); // row tiles come in pairs
//! assert_eq!(&w.tile(0, 0)[..4], &[1, 2, 3, 0]);
//! assert_eq!(&w.tile(0, 0)[TILE_DEPTH..TILE_DEPTH + 4], &[4, 5, 6, 0]);
//! ```

/// Output channels per tile (and activation depth units per tile).
pub const TILE_ROWS: usize = 16;
/// Values of `k` per tile row (64 bytes).
pub const TILE_DEPTH: usize = 64;
/// Bytes of one tile.
pub const TILE_BYTES: usize = TILE_ROWS * TILE_DEPTH;

/// Weights `[m, k]` in tile order: tile `(i, j)` holds rows `16i ..` and `k` in `64j ..`,
/// row-major, zero past `m` and `k`. The number of row tiles is even, so a kernel can always run
/// two of them together.
#[derive(Debug, Clone, PartialEq)]
pub struct TiledWeightsI8 {
    data: Vec<i8>,
    row_tiles: usize,
    chunks: usize,
    depth: usize,
}

impl TiledWeightsI8 {
    /// Lays out the row-major `[rows, depth]` matrix `values`.
    ///
    /// # Panics
    /// If `values.len() != rows · depth` (the callers check it with a typed error first).
    pub fn new(values: &[i8], rows: usize, depth: usize) -> Self {
        assert_eq!(values.len(), rows * depth, "a [rows, depth] weight matrix");
        let row_tiles = rows.div_ceil(TILE_ROWS).next_multiple_of(2);
        let chunks = depth.div_ceil(TILE_DEPTH);
        let mut data = vec![0i8; row_tiles * chunks * TILE_BYTES];
        for (r, row) in values.chunks_exact(depth.max(1)).enumerate().take(rows) {
            for (j, part) in row.chunks(TILE_DEPTH).enumerate() {
                let at = ((r / TILE_ROWS) * chunks + j) * TILE_BYTES + (r % TILE_ROWS) * TILE_DEPTH;
                data[at..at + part.len()].copy_from_slice(part);
            }
        }
        Self { data, row_tiles, chunks, depth }
    }

    /// Row tiles (an even number).
    pub fn row_tiles(&self) -> usize {
        self.row_tiles
    }

    /// Tiles along `k`.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// `k`: the reduction length.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Depth units (of 4 values) a kernel needs to read per tile: 16, or fewer when the whole
    /// depth fits one tile (a conv over 1 to 3 channels reads 3 to 7 instead of 16).
    pub fn tile_units(&self) -> usize {
        if self.chunks > 1 {
            TILE_ROWS
        } else {
            self.depth.div_ceil(4).max(1)
        }
    }

    /// Tile `(i, j)`: [`TILE_BYTES`] bytes, row-major `16 × 64`.
    pub fn tile(&self, i: usize, j: usize) -> &[i8] {
        &self.data[(i * self.chunks + j) * TILE_BYTES..][..TILE_BYTES]
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}
