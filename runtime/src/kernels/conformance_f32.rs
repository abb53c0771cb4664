//! One suite for the fp32 kernel tables: each table's GEMV rows, conv tile and 2×2 pools against
//! their portable twins (bit for bit where the twin keeps the order of operations) and the `f64`
//! references, on odd sizes and tails. Every table enabled runs (all tiers up to the one detected,
//! within `FASTERAI_MAX_ISA`); the others are named and skipped.

use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::conv_f32::tests::reference as reference_conv;
use super::generic::pool_2x2::generic_pool_2x2;
use super::{reference_gemv_f32, Accumulate, ConvF32, ConvGeometry, ConvScratchF32, F32Kernels, Isa, Parallelism};

/// The tables under test: every one enabled; the tiers with a table that are not are named.
fn tables() -> Vec<F32Kernels> {
    let all = F32Kernels::available();
    static NOTE: std::sync::Once = std::sync::Once::new();
    NOTE.call_once(|| {
        for &tier in &super::table_f32::TIERS[1..] {
            if !all.iter().any(|k| k.isa == tier) {
                eprintln!("skipped the {tier} fp32 kernels: not on this CPU or above FASTERAI_MAX_ISA");
            }
        }
    });
    assert_eq!(all[0].isa, Isa::Portable, "the portable table always runs");
    all
}

fn random(len: usize, rng: &mut SmallRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

#[test]
fn the_tables_are_ordered_and_the_best_is_the_last() {
    let all = tables();
    assert!(all.windows(2).all(|w| w[0].isa < w[1].isa));
    let best = F32Kernels::best();
    assert_eq!((best.name, best.isa), (all.last().unwrap().name, all.last().unwrap().isa));
    for t in &all {
        let prefix = if t.isa == Isa::Portable { "generic" } else { t.isa.name() };
        assert!(t.isa.enabled() && t.name == format!("{prefix}_f32") && t.conv_tile.name.starts_with(prefix), "{t:?}");
    }
}

#[test]
fn gemv_rows_equal_the_reference_on_odd_sizes_and_tails() {
    let mut rng = SmallRng::seed_from_u64(4);
    // Rows around the group of 4, columns around the 16 lanes.
    for table in tables() {
        for (rows, cols) in [(1, 1), (1, 3), (3, 15), (4, 16), (5, 17), (6, 31), (9, 48), (17, 65), (7, 130)] {
            let (w, x) = (random(rows * cols, &mut rng), random(cols, &mut rng));
            let start = random(rows, &mut rng);
            let mut want = start.clone();
            reference_gemv_f32(&w, rows, cols, &x, &mut want, Accumulate::Add).unwrap();
            let mut got = start.clone();
            (table.gemv_4x16)(&w, cols, &x, &mut got);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                let tol = 1e-5 * (1.0 + b.abs()) * (cols as f32).sqrt();
                assert!((a - b).abs() <= tol, "{} {rows}×{cols} row {i}: {a} vs {b}", table.name);
            }
        }
    }
}

#[test]
fn conv_tiles_equal_the_generic_tile_bit_for_bit_and_the_reference() {
    let mut rng = SmallRng::seed_from_u64(7);
    // (C, H, W, K, P, O): partial panels and tiles, rows narrower and wider than every tile width,
    // one output row, more than one depth block.
    let shapes = [(3, 9, 7, 3, 1, 5), (4, 5, 13, 5, 2, 9), (5, 6, 3, 2, 0, 17), (2, 1, 40, 1, 0, 3), (1, 3, 3, 3, 2, 1), (60, 5, 6, 3, 1, 9)];
    let generic = F32Kernels::generic().conv_tile;
    for (c, h, w, k, p, o) in shapes {
        let g = ConvGeometry::new(c, h, w, k, 1, p).unwrap();
        let (x, wt, b) = (random(g.image_len(), &mut rng), random(o * g.col_rows(), &mut rng), random(o, &mut rng));
        let conv = ConvF32::new(g, &wt, o, Some(&b), true).unwrap();
        let mut scratch = ConvScratchF32::default();
        let mut want = vec![f32::NAN; o * g.out_len()];
        conv.run(generic, &x, &mut want, &mut scratch, Parallelism::Sequential, false).unwrap();
        let reference = reference_conv(g, &x, &wt, o, &b, true);
        for (i, (a, r)) in want.iter().zip(&reference).enumerate() {
            assert!((a - r).abs() <= 1e-5 * g.col_rows() as f32 * (1.0 + r.abs()), "generic output {i}: {a} vs {r}");
        }
        for table in tables() {
            for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                let mut got = vec![f32::NAN; want.len()];
                conv.run(table.conv_tile, &x, &mut got, &mut scratch, parallelism, false).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{} ({}) {c}×{h}×{w} k{k} p{p} → {o}", table.name, table.conv_tile.name);
            }
        }
        // The fused add of a residual block: the sums start from the skip, and the add's ReLU
        // (none here) replaces the conv's.
        let skip = random(want.len(), &mut rng);
        let mut want = skip.clone();
        conv.run_with(generic, &x, &mut want, &mut scratch, Parallelism::Sequential, (true, false)).unwrap();
        for table in tables() {
            for parallelism in [Parallelism::Sequential, Parallelism::AllCores] {
                let mut got = skip.clone();
                conv.run_with(table.conv_tile, &x, &mut got, &mut scratch, parallelism, (true, false)).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "fused add: {} ({}) {c}×{h}×{w} k{k} p{p} → {o}", table.name, table.conv_tile.name);
            }
        }
    }
}

/// Checks the 2×2 pools `pool_f32` and `pool_u8` against the generic pool on `pairs` random row
/// pairs of `width` (a fifth of the floats NaN, ±0 or ±∞), bit for bit; `what` names them.
pub(super) fn check_pool_2x2(
    rng: &mut SmallRng,
    (width, pairs): (usize, usize),
    pool_f32: fn(&[f32], usize, &mut [f32]),
    pool_u8: fn(&[u8], usize, &mut [u8]),
    what: &str,
) {
    let specials = [f32::NAN, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY];
    let bits = |v: &[f32]| v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect::<Vec<_>>();
    let ow = width / 2;
    let xf: Vec<f32> = (0..2 * pairs * width)
        .map(|_| if rng.gen_bool(0.2) { specials[rng.gen_range(0..specials.len())] } else { rng.gen_range(-2.0..2.0) })
        .collect();
    let xq: Vec<u8> = (0..2 * pairs * width).map(|_| rng.gen()).collect();
    let (mut want_f, mut got_f) = (vec![0.0; pairs * ow], vec![1.0; pairs * ow]);
    generic_pool_2x2(&xf, width, &mut want_f);
    pool_f32(&xf, width, &mut got_f);
    assert_eq!(bits(&got_f), bits(&want_f), "{what} f32, width {width}, {pairs} pairs");
    let (mut want_q, mut got_q) = (vec![0u8; pairs * ow], vec![1u8; pairs * ow]);
    generic_pool_2x2(&xq, width, &mut want_q);
    pool_u8(&xq, width, &mut got_q);
    assert_eq!(got_q, want_q, "{what} u8, width {width}, {pairs} pairs");
}

#[test]
fn pools_equal_the_generic_pool_on_odd_widths_nans_and_signed_zeros() {
    let mut rng = SmallRng::seed_from_u64(5);
    for table in tables() {
        for width in [1, 2, 3, 7, 15, 31, 32, 33, 63, 64, 65, 99, 127, 129] {
            for pairs in [1, 2, 5] {
                check_pool_2x2(&mut rng, (width, pairs), table.pool_2x2_f32, table.pool_2x2_u8, table.name);
            }
        }
    }
}
