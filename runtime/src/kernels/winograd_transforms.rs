//! The transforms of [`WinogradConv`](super::WinogradConv)'s `F(2×2, 3×3)`, as flat loops over
//! the tiles of one channel that LLVM vectorises ([`widest_fn!`]).
//!
//! Tiles are counted on a *wide* grid of `TH × (TW + 1)`: each row of tiles has one junk tile at
//! its end. The padded input is split into its four phases (even or odd row, even or odd column),
//! planes of `(TH + 1) × (TW + 1)` values; the value at row `r`, column `s` of tile `q`'s 4×4 input
//! block is then phase `(r mod 2, s mod 2)` at `q + ⌊r/2⌋·(TW + 1) + ⌊s/2⌋`. So each of the 16
//! inputs of the input transform is a contiguous run over `q`, and so is each of its 16 outputs.
//! Junk tiles read real (padded) values and are computed like the others; [`WinogradConv`]
//! drops them before its GEMMs. The output transform runs over the real tiles only, and
//! [`place_outputs`] spreads its four outputs per tile into the output plane.
//!
//! [`WinogradConv`]: super::WinogradConv

use super::widest::widest_fn;

/// Values of one transformed tile (4 × 4).
pub(crate) const XI: usize = 16;

/// The tile grid of a conv's output: `th × tw` tiles of 2×2 outputs, counted `th × (tw + 1)` wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileGrid {
    /// Rows of tiles.
    pub(crate) th: usize,
    /// Tiles per row (not counting the junk one).
    pub(crate) tw: usize,
}

impl TileGrid {
    /// The grid covering an `oh × ow` output.
    pub(crate) fn new(oh: usize, ow: usize) -> Self {
        Self { th: oh.div_ceil(2), tw: ow.div_ceil(2) }
    }

    /// Tiles per row, the junk one included.
    pub(crate) fn stride(self) -> usize {
        self.tw + 1
    }

    /// Wide tiles: `th · (tw + 1)`.
    pub(crate) fn wide(self) -> usize {
        self.th * self.stride()
    }

    /// Values of one phase plane: `(th + 1) · (tw + 1)`, plus one row of slack for the runs that
    /// start at `tw + 2`.
    pub(crate) fn phase_len(self) -> usize {
        (self.th + 2) * self.stride()
    }
}

/// `G g Gᵀ` for `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`, row-major 4×4.
pub(crate) fn transform_kernel(g: &[f32; 9]) -> [f32; XI] {
    let row = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    // G g: 4 rows of 3.
    let gg: [[f32; 3]; 4] = [
        [g[0], g[1], g[2]],
        [0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8])],
        [0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8])],
        [g[6], g[7], g[8]],
    ];
    let mut u = [0.0; XI];
    for (i, r) in gg.iter().enumerate() {
        u[4 * i..4 * i + 4].copy_from_slice(&row(r[0], r[1], r[2]));
    }
    u
}

/// One `h × w` plane, zero-padded by `padding` on the top and left (and with zeros up to the
/// grid's `2·th + 2` rows and `2·tw + 2` columns), split into its four phases in `phases` (four
/// planes of at least [`TileGrid::phase_len`] values; phase `2·(row mod 2) + (column mod 2)` first
/// to last; zeros past the grid).
pub(crate) fn split_phases(plane: &[f32], (h, w): (usize, usize), padding: usize, grid: TileGrid, phases: &mut [f32]) {
    let (len, stride) = (phases.len() / 4, grid.stride());
    assert!(len >= grid.phase_len() && plane.len() == h * w, "four phase planes of the grid");
    assert!(h + padding <= 2 * grid.th + 2 && w + padding <= 2 * grid.tw + 2, "the plane fits the grid");
    phases.fill(0.0);
    // Column x lands in phase (x + padding) mod 2, at (x + padding) / 2: the columns of one
    // parity from `to_even`, of the other from `to_odd`.
    let (to_even, to_odd) = if padding.is_multiple_of(2) { (0, 1) } else { (1, 0) };
    for (y, row) in plane.chunks_exact(w).enumerate() {
        let py = y + padding;
        let (even, odd) = phases[py % 2 * 2 * len..][..2 * len].split_at_mut(len);
        let at = (py / 2) * stride;
        every_other(&row[to_even.min(w)..], &mut even[at + (to_even + padding) / 2..]);
        every_other(&row[to_odd.min(w)..], &mut odd[at + (to_odd + padding) / 2..]);
    }
}

widest_fn! {
    /// `dst[m] = src[2·m]` for every even position of `src`.
    fn every_other(src: &[f32], dst: &mut [f32]) {
        let pairs = src.chunks_exact(2);
        let last = pairs.remainder().first().copied();
        let n = pairs.len();
        for (d, pair) in dst.iter_mut().zip(pairs) {
            *d = pair[0];
        }
        if let Some(v) = last {
            dst[n] = v;
        }
    }
}

widest_fn! {
    /// `V = Bᵀ d B` (`Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`) of the
    /// wide tiles of one channel, from its four phase planes (`phases`, see [`split_phases`]) into
    /// `v` (`[16, n]`, `n` the wide tiles).
    pub(crate) fn transform_input(phases: &[f32], grid: TileGrid, v: &mut [f32]) {
        let (n, stride, phase_len) = (grid.wide(), grid.stride(), phases.len() / 4);
        assert!(v.len() == XI * n && phase_len > n + stride, "phase planes cover the tiles' runs");
        // d[r][s] = phase (r % 2, s % 2) from q + (r / 2)·stride + s / 2.
        let d: [[&[f32]; 4]; 4] = std::array::from_fn(|r| {
            std::array::from_fn(|s| &phases[(2 * (r % 2) + s % 2) * phase_len + (r / 2) * stride + s / 2..][..n])
        });
        let mut rows = v.chunks_exact_mut(n);
        let mut v: [&mut [f32]; XI] = std::array::from_fn(|_| rows.next().expect("16 rows of n"));
        // Eight tiles at a time: all loads of a chunk come before its stores, so the chunk is
        // vectorised though the rows are separate slices.
        let mut q = 0;
        while q + LANES <= n {
            let dd = |r: usize, s: usize| -> [f32; LANES] { d[r][s][q..q + LANES].try_into().expect("a chunk") };
            let out = input_tile::<LANES>(dd);
            for (row, out) in v.iter_mut().zip(&out) {
                row[q..q + LANES].copy_from_slice(out);
            }
            q += LANES;
        }
        for q in q..n {
            let out = input_tile::<1>(|r, s| [d[r][s][q]]);
            for (row, out) in v.iter_mut().zip(&out) {
                row[q] = out[0];
            }
        }
    }
}

/// Tiles per chunk of the transforms' loops.
const LANES: usize = 8;

/// `Bᵀ d B` of `L` tiles, `d(r, s)` their inputs at row `r`, column `s`; the sixteen outputs.
#[inline(always)]
fn input_tile<const L: usize>(d: impl Fn(usize, usize) -> [f32; L]) -> [[f32; L]; XI] {
    let d: [[[f32; L]; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|s| d(r, s)));
    let mut out = [[0.0; L]; XI];
    for l in 0..L {
        let x = |r: usize, s: usize| d[r][s][l];
        // Bᵀ d, four rows of four columns; then (·) B on each row.
        let bd: [[f32; 4]; 4] = [
            std::array::from_fn(|s| x(0, s) - x(2, s)),
            std::array::from_fn(|s| x(1, s) + x(2, s)),
            std::array::from_fn(|s| x(2, s) - x(1, s)),
            std::array::from_fn(|s| x(1, s) - x(3, s)),
        ];
        for (k, [a, b, c, e]) in bd.into_iter().enumerate() {
            out[4 * k][l] = a - c;
            out[4 * k + 1][l] = b + c;
            out[4 * k + 2][l] = c - b;
            out[4 * k + 3][l] = b - e;
        }
    }
    out
}

widest_fn! {
    /// `Aᵀ m A` (`Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`) of the `n` tiles of one output channel:
    /// `m` is `[16, n]`, `y` receives the tiles' four outputs as `[4, n]` (top-left, top-right,
    /// bottom-left, bottom-right).
    pub(crate) fn transform_output(m: &[f32], y: &mut [f32]) {
        let n = m.len() / XI;
        assert!(y.len() == 4 * n, "four outputs per tile");
        let at: [&[f32]; XI] = std::array::from_fn(|xi| &m[xi * n..][..n]);
        let (y0, rest) = y.split_at_mut(n);
        let (y1, rest) = rest.split_at_mut(n);
        let (y2, y3) = rest.split_at_mut(n);
        let (y0, y1, y2, y3) = (&mut y0[..n], &mut y1[..n], &mut y2[..n], &mut y3[..n]);
        for q in 0..n {
            // Aᵀ m: two rows of four.
            let u0: [f32; 4] = std::array::from_fn(|l| at[l][q] + at[4 + l][q] + at[8 + l][q]);
            let u1: [f32; 4] = std::array::from_fn(|l| at[4 + l][q] - at[8 + l][q] - at[12 + l][q]);
            y0[q] = u0[0] + u0[1] + u0[2];
            y1[q] = u0[1] - u0[2] - u0[3];
            y2[q] = u1[0] + u1[1] + u1[2];
            y3[q] = u1[1] - u1[2] - u1[3];
        }
    }
}

/// The tiles' outputs `y` (`[4, th·tw]`, from [`transform_output`] over the grid's tiles without
/// the junk ones) into the `oh × ow` plane `out`, clipped edges left out: each value plus `bias`
/// (plus what `out` holds if `accumulate`), through the ReLU if `relu` (keeping NaN, as the
/// model's forward does).
pub(crate) fn place_outputs(y: &mut [f32], grid: TileGrid, (oh, ow): (usize, usize), bias: f32, (accumulate, relu): (bool, bool), out: &mut [f32]) {
    let (t, tw) = (grid.th * grid.tw, grid.tw);
    assert!(y.len() == 4 * t && out.len() == oh * ow, "the tiles' outputs and the plane");
    if !accumulate {
        finish_in_place(y, bias, relu);
    }
    let finish = |v: f32, old: f32| {
        if !accumulate {
            return v;
        }
        let v = (v + bias) + old;
        if relu && v <= 0.0 {
            0.0
        } else {
            v
        }
    };
    for yy in 0..oh {
        let (i, dy) = (yy / 2, yy % 2);
        let (left, right) = (&y[(2 * dy) * t + i * tw..][..tw], &y[(2 * dy + 1) * t + i * tw..][..tw]);
        let row = &mut out[yy * ow..][..ow];
        let pairs = ow / 2;
        for ((pair, &l), &r) in row.chunks_exact_mut(2).zip(&left[..pairs]).zip(&right[..pairs]) {
            pair[0] = finish(l, pair[0]);
            pair[1] = finish(r, pair[1]);
        }
        if ow % 2 == 1 {
            row[ow - 1] = finish(left[pairs], row[ow - 1]);
        }
    }
}

widest_fn! {
    /// `y = relu?(y + bias)`, keeping NaN.
    fn finish_in_place(y: &mut [f32], bias: f32, relu: bool) {
        if relu {
            for v in y.iter_mut() {
                let b = *v + bias;
                *v = if b <= 0.0 { 0.0 } else { b };
            }
        } else {
            for v in y.iter_mut() {
                *v += bias;
            }
        }
    }
}

/// `dst = src` in chunks of eight values moved inline: the runs dealt into `V`'s column blocks are
/// short, and a call to `memcpy` for each cost more than the copy.
#[inline]
pub(crate) fn copy_run(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "runs of one length");
    let (mut d, mut s) = (dst.chunks_exact_mut(8), src.chunks_exact(8));
    for (d, s) in (&mut d).zip(&mut s) {
        let s: [f32; 8] = s.try_into().expect("chunks of 8");
        d.copy_from_slice(&s);
    }
    d.into_remainder().copy_from_slice(s.remainder());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `Bᵀ d B` of one 4×4 block, from the matrices.
    fn plain_input(d: [[f32; 4]; 4]) -> [f32; XI] {
        let bt = [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];
        let mut btd = [[0.0f32; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                btd[i][j] = (0..4).map(|k| bt[i][k] * d[k][j]).sum();
            }
        }
        std::array::from_fn(|xi| (0..4).map(|k| btd[xi / 4][k] * bt[xi % 4][k]).sum())
    }

    #[test]
    fn the_input_transform_is_bt_d_b_of_every_padded_block() {
        let mut rng = StdRng::seed_from_u64(3);
        // (h, w, padding): even and odd sides, paddings 0 to 2.
        for (h, w, p) in [(4, 4, 1), (7, 5, 1), (6, 9, 0), (5, 5, 2), (3, 3, 0), (1, 1, 1)] {
            let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2);
            let grid = TileGrid::new(oh, ow);
            let plane: Vec<f32> = (0..h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let padded = |y: usize, x: usize| {
                let (y, x) = (y.wrapping_sub(p), x.wrapping_sub(p));
                if y < h && x < w {
                    plane[y * w + x]
                } else {
                    0.0
                }
            };
            let mut phases = vec![f32::NAN; 4 * grid.phase_len()];
            split_phases(&plane, (h, w), p, grid, &mut phases);
            let mut v = vec![f32::NAN; XI * grid.wide()];
            transform_input(&phases, grid, &mut v);
            for i in 0..grid.th {
                for j in 0..grid.tw {
                    let want = plain_input(std::array::from_fn(|r| std::array::from_fn(|s| padded(2 * i + r, 2 * j + s))));
                    let q = i * grid.stride() + j;
                    for (xi, want) in want.iter().enumerate() {
                        assert_eq!(v[xi * grid.wide() + q], *want, "{h}x{w} p{p}: tile ({i}, {j}), value {xi}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_output_transform_places_at_a_m_every_tile_and_finishes_it() {
        let mut rng = StdRng::seed_from_u64(4);
        let at = [[1.0f32, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
        for (oh, ow) in [(4, 4), (5, 7), (1, 1), (6, 3)] {
            let grid = TileGrid::new(oh, ow);
            let t = grid.th * grid.tw;
            let m: Vec<f32> = (0..XI * t).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let old: Vec<f32> = (0..oh * ow).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for (accumulate, relu) in [(false, false), (false, true), (true, false), (true, true)] {
                let mut y = vec![0.0; 4 * t];
                transform_output(&m, &mut y);
                let mut out = old.clone();
                place_outputs(&mut y, grid, (oh, ow), 0.25, (accumulate, relu), &mut out);
                for (pos, &got) in out.iter().enumerate() {
                    let (yy, xx) = (pos / ow, pos % ow);
                    let tile = (yy / 2) * grid.tw + xx / 2;
                    let (a, b) = (at[yy % 2], at[xx % 2]);
                    let v: f32 = (0..XI).map(|xi| a[xi / 4] * m[xi * t + tile] * b[xi % 4]).sum();
                    let v = v + 0.25 + if accumulate { old[pos] } else { 0.0 };
                    let want = if relu { v.max(0.0) } else { v };
                    assert!((got - want).abs() <= 1e-5, "{oh}x{ow} {accumulate} {relu}: ({yy}, {xx}) {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn copies_of_any_length_are_exact() {
        for len in [0, 3, 8, 13, 32] {
            let src: Vec<f32> = (0..len).map(|v| v as f32).collect();
            let mut dst = vec![f32::NAN; len];
            copy_run(&mut dst, &src);
            assert_eq!(dst, src);
        }
    }
}
