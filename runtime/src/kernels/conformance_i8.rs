//! One suite for the int8 kernels: each table's kernels against the plain triple loop and the
//! scalar output stage, on odd sizes and tails, extremes included. Integer arithmetic: equality is exact.

use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::conv_u8::{ConvScratch, QuantizedConv2d};
use super::generic::gemm_i8::reference_gemm_u8i8;
use super::generic::im2col_u8::ConvShape;
use super::int8::{Int8Kernels, Split};
use super::isa::Isa;
use crate::quant::{requantize_one, ActivationQParams, ChannelRequant, FixedPointMultiplier, OutputStage, QuantError, QuantizedWeights};

/// The tables under test: every one this CPU runs; the SIMD ones it cannot run are named and skipped.
fn tables() -> Vec<Int8Kernels> {
    let all = Int8Kernels::available();
    static NOTE: std::sync::Once = std::sync::Once::new();
    NOTE.call_once(|| {
        let simd: &[Isa] =
            if cfg!(target_arch = "aarch64") { &[Isa::Neon, Isa::Dotprod] } else { &[Isa::Avx2, Isa::AvxVnni, Isa::Avx512Vnni, Isa::Amx] };
        for &isa in simd {
            if !all.iter().any(|k| k.isa == isa) {
                eprintln!("skipped the {isa} kernels: not on this CPU or above FASTERAI_MAX_ISA");
            }
        }
    });
    all
}

/// Random data where about one value in four is an extreme (0/255, −127/127).
fn operands(rng: &mut SmallRng, m: usize, n: usize, k: usize) -> (Vec<i8>, Vec<u8>) {
    let a = (0..m * k)
        .map(|_| match rng.gen_range(0..8) {
            0 => -127,
            1 => 127,
            _ => rng.gen_range(-127..=127),
        })
        .collect();
    let b = (0..k * n)
        .map(|_| match rng.gen_range(0..8) {
            0 => 0,
            1 | 2 => 255,
            _ => rng.gen(),
        })
        .collect();
    (a, b)
}

/// Bell-shaped weights as training leaves them (most small, one in 140 at ±127 or −128), so
/// that `vpmaddubsw` kernels pack them split ([`super::pack_split`]) rather than on their fallback
/// layout; activations as [`operands`].
fn bell_operands(rng: &mut SmallRng, m: usize, n: usize, k: usize) -> (Vec<i8>, Vec<u8>) {
    let (_, b) = operands(rng, m, n, k);
    let a = (0..m * k)
        .map(|_| match rng.gen_range(0..420) {
            0 => -128,
            1 => 127,
            2 => -127,
            _ => rng.gen_range(-24..=24i8) + rng.gen_range(-24..=24i8),
        })
        .collect();
    (a, b)
}

/// Both kinds of operands: uniform weights (which `vpmaddubsw` kernels run on their fallback
/// layout) and bell-shaped ones (which they split).
type Operands = fn(&mut SmallRng, usize, usize, usize) -> (Vec<i8>, Vec<u8>);
const OPERANDS: [(&str, Operands); 2] = [("uniform", operands), ("bell", bell_operands)];

fn sizes() -> Vec<(usize, usize, usize)> {
    let mut v: Vec<_> = (1..=17).flat_map(|m| (1..=17).map(move |n| (m, n, (m * 7 + n * 3) % 17 + 1))).collect();
    v.extend((1..=17).map(|k| (7, 19, k)));
    v.extend([(32, 196, 288), (64, 784, 9), (13, 130, 577), (70, 45, 1001)]);
    v
}

#[test]
fn each_table_is_on_the_tier_its_name_begins_with() {
    for kernels in tables() {
        let prefix = if kernels.isa == Isa::Portable { "generic" } else { kernels.isa.name() };
        assert!(kernels.name.starts_with(&format!("{prefix}_")), "{} on {}", kernels.name, kernels.isa);
    }
}

/// Every `m, n, k` in `1..=17`, one thread: all tails of the 6 × 16 tile and of the depth units.
#[test]
fn gemm_i32_equals_the_triple_loop_on_every_small_size() {
    let mut rng = SmallRng::seed_from_u64(65);
    let tables = tables();
    for (kind, operands) in OPERANDS {
        for m in 1..=17 {
            for n in 1..=17 {
                for k in 1..=17 {
                    let (a, b) = operands(&mut rng, m, n, k);
                    let want = reference_gemm_u8i8(m, n, k, &a, &b);
                    for kernels in &tables {
                        let pa = kernels.pack_weights(&a, m, k).unwrap();
                        let mut pb = kernels.activations_for(&pa);
                        pb.pack(&b, k, n).unwrap();
                        let mut got = vec![-1; m * n];
                        kernels.gemm_i32(&pa, &pb, &mut got, Split::Sequential).unwrap();
                        assert_eq!(got, want, "{} {kind} m={m} n={n} k={k}", kernels.name);
                    }
                }
            }
        }
    }
}

/// Odd and big sizes under every split of the work over threads.
#[test]
fn gemm_i32_equals_the_triple_loop() {
    let mut rng = SmallRng::seed_from_u64(66);
    let mut split_packs = 0;
    for ((m, n, k), (kind, operands)) in sizes().into_iter().flat_map(|s| OPERANDS.map(|o| (s, o))) {
        let (a, b) = operands(&mut rng, m, n, k);
        let want = reference_gemm_u8i8(m, n, k, &a, &b);
        for kernels in tables() {
            let pa = kernels.pack_weights(&a, m, k).unwrap();
            split_packs += usize::from(pa.is_split() && k > 200);
            let mut pb = kernels.activations_for(&pa);
            pb.pack(&b, k, n).unwrap();
            for split in [Split::Sequential, Split::Rows, Split::Columns, Split::Auto] {
                let mut got = vec![-1; m * n];
                kernels.gemm_i32(&pa, &pb, &mut got, split).unwrap();
                assert_eq!(got, want, "{} {kind} {split:?} m={m} n={n} k={k}", kernels.name);
            }
        }
    }
    // The three big bell-shaped products (k > 200) ran split on each `vpmaddubsw` table.
    let saturating = tables().iter().filter(|k| k.saturating.is_some()).count();
    assert!(split_packs >= 3 * saturating, "{split_packs} split packs for {saturating} tables");
}

#[test]
fn gemv_equals_the_triple_loop() {
    use super::int8::GemvScratch;
    use super::pack_i8::PackedRowsI8;
    let mut rng = SmallRng::seed_from_u64(64);
    let mut scratch = GemvScratch::default();
    let sizes = (1..=17).flat_map(|m| [1, 2, 15, 16, 17, 31, 32, 33, 63, 65].map(|k| (m, k))).chain([(256, 3136), (61, 4500), (10, 256), (7, 1001)]); // the first two split over the team
    for (m, k) in sizes {
        let (a, x) = operands(&mut rng, m, 1, k);
        let want = reference_gemm_u8i8(m, 1, k, &a, &x);
        let w = PackedRowsI8::new(&a, m, k).unwrap();
        for kernels in tables() {
            let mut got = vec![-1; m];
            kernels.gemv_i32(&w, &x, &mut got, &mut scratch).unwrap();
            assert_eq!(got, want, "{} m={m} k={k}", kernels.name);
        }
    }
    let w = PackedRowsI8::new(&[1; 6], 2, 3).unwrap();
    assert!(Int8Kernels::best().gemv_i32(&w, &[1; 4], &mut [0; 2], &mut scratch).is_err());
    assert!(Int8Kernels::best().gemv_i32(&w, &[1; 3], &mut [0; 3], &mut scratch).is_err());
}

#[test]
fn all_extremes_do_not_saturate() {
    let (m, n, k) = (7, 17, 33);
    for (w, x) in [(127i8, 255u8), (-127, 255)] {
        let (a, b) = (vec![w; m * k], vec![x; k * n]);
        for kernels in tables() {
            let pa = kernels.pack_weights(&a, m, k).unwrap();
            let mut pb = kernels.activations_for(&pa);
            pb.pack(&b, k, n).unwrap();
            let mut got = vec![0; m * n];
            kernels.gemm_i32(&pa, &pb, &mut got, Split::Sequential).unwrap();
            assert!(got.iter().all(|&v| v == w as i32 * x as i32 * k as i32), "{}", kernels.name);
        }
    }
}

/// The saturation case: pairs that `vpmaddubsw` would saturate (`255·127 + 255·127` gives
/// 32 767) are split off or sent to the fallback layout, so every table gives the exact integers at
/// the extremes; weights packed unsplit are refused by the saturating tables, split ones by the others.
#[test]
fn saturating_pairs_are_split_or_fall_back_never_silently_wrong() {
    use super::generic::gemm_i8::{generic_tile_i32_q4s_6x16, maddubs_pair};
    use super::pack_i8::{PackedWeightsI8, PanelLayout};
    assert_eq!(maddubs_pair([255, 255], [127, 127]), i16::MAX, "the instruction's pair saturates here");
    let (m, n, k) = (7, 17, 64);
    // Dense: every pair unsafe (−128 too, which the quantizer never makes but the packing accepts).
    // Sparse: one unsafe pair in a row of small weights, at a unit that is not the first.
    let mut sparse = vec![3i8; m * k];
    sparse[2 * k + 9] = 127;
    sparse[2 * k + 8] = 127;
    sparse[5 * k + 62] = -128;
    sparse[5 * k + 63] = -128;
    for (kind, a) in [("dense", vec![127i8; m * k]), ("dense -128", vec![-128i8; m * k]), ("sparse", sparse)] {
        let b = vec![255u8; k * n];
        let want = reference_gemm_u8i8(m, n, k, &a, &b);
        for kernels in tables() {
            let pa = kernels.pack_weights(&a, m, k).unwrap();
            if let Some(fallback) = kernels.saturating {
                let split = kind == "sparse";
                assert_eq!((pa.is_split(), pa.layout()), (split, if split { kernels.layout } else { fallback.layout }), "{} {kind}", kernels.name);
            }
            let mut pb = kernels.activations_for(&pa);
            pb.pack(&b, k, n).unwrap();
            let mut got = vec![0; m * n];
            kernels.gemm_i32(&pa, &pb, &mut got, Split::Sequential).unwrap();
            assert_eq!(got, want, "{} {kind}", kernels.name);
        }
    }
    // Unsplit byte quads through the saturating twin would be wrong ...
    let a = vec![127i8; MR_ROWS * 4];
    let unsplit = PackedWeightsI8::new(&a, MR_ROWS, 4, PanelLayout::Quads8).unwrap();
    let mut pb = super::pack_i8::PackedActivationsU8::new(PanelLayout::Quads8);
    pb.pack(&[255; 4 * 16], 4, 16).unwrap();
    let mut panel = unsplit.panel(0).to_vec();
    panel.push(0); // no split-off words
    let mut tile = [0; 96];
    generic_tile_i32_q4s_6x16(&panel, pb.panel(0), &mut tile);
    assert_eq!(tile[0], 2 * i16::MAX as i32, "saturated, not 4·255·127");
    // ... so the saturating tables refuse such weights, and the other tables refuse split ones.
    for kernels in tables() {
        let mut out = vec![0; MR_ROWS * 16];
        let err = kernels.gemm_i32(&unsplit, &pb, &mut out, Split::Sequential);
        if kernels.saturating.is_some() {
            assert!(matches!(err, Err(QuantError::LayoutMismatch { operand: "weights", .. })), "{}", kernels.name);
        }
        let split = Int8Kernels::generic_quads_split().pack_weights(&[1; 6 * 4], 6, 4).unwrap();
        if kernels.layout == split.layout() && kernels.saturating.is_none() {
            let err = kernels.gemm_i32(&split, &pb, &mut out, Split::Sequential);
            assert!(matches!(err, Err(QuantError::LayoutMismatch { operand: "weights", .. })), "{}", kernels.name);
        }
    }
}

const MR_ROWS: usize = super::pack_i8::MR;

/// A random output stage for the `m` rows of `a`.
fn stage(rng: &mut SmallRng, a: &[i8], m: usize, relu: bool) -> OutputStage {
    let w: Vec<f32> = a.iter().map(|&q| q as f32 * rng.gen_range(0.001..0.01)).collect();
    let qw = QuantizedWeights { values: a.to_vec(), ..QuantizedWeights::quantize(&w, m).unwrap() };
    let bias: Vec<f32> = (0..m).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let input = ActivationQParams::from_range(rng.gen_range(-1.0..0.0), rng.gen_range(0.5..3.0)).unwrap();
    let output = ActivationQParams::from_range(rng.gen_range(-8.0..0.0), rng.gen_range(1.0..8.0)).unwrap();
    OutputStage::new(input, &qw, Some(&bias), output, relu).unwrap()
}

#[test]
fn gemm_u8_equals_the_triple_loop_then_the_scalar_stage() {
    let mut rng = SmallRng::seed_from_u64(67);
    for (i, ((m, n, k), (kind, operands))) in sizes().into_iter().flat_map(|s| OPERANDS.map(|o| (s, o))).enumerate() {
        let (a, b) = operands(&mut rng, m, n, k);
        let st = stage(&mut rng, &a, m, i % 2 == 0);
        let acc = reference_gemm_u8i8(m, n, k, &a, &b);
        let want: Vec<u8> = acc.iter().enumerate().map(|(j, &v)| st.requantize(j / n, v)).collect();
        for kernels in tables() {
            let pa = kernels.pack_weights(&a, m, k).unwrap();
            let mut pb = kernels.activations_for(&pa);
            pb.pack(&b, k, n).unwrap();
            for split in [Split::Sequential, Split::Rows, Split::Columns] {
                let mut got = vec![0; m * n];
                kernels.gemm_u8(&pa, &pb, &st, &mut got, split).unwrap();
                assert_eq!(got, want, "{} {kind} {split:?} m={m} n={n} k={k}", kernels.name);
            }
        }
    }
}

/// Holds a SIMD output stage against [`requantize_one`] bit for bit, `lanes` running `N` accumulators
/// of one channel through it. `cases` random stages (multipliers from 2⁻³¹ to 2²⁰, zero points, ReLU
/// floors), a quarter of the accumulators at the `i32` extremes, and a third of the stages with
/// multipliers of few significant bits, a small bias and small accumulators: exact ties, enough of
/// which must reach the output (not clamped away). Shared by every SIMD stage's test.
pub(super) fn check_stage_lanes<const N: usize>(seed: u64, cases: usize, lanes: impl Fn([i32; N], &ChannelRequant, u8, u8) -> [i32; N]) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
    let (mut checked, mut inner_ties) = (0, 0);
    for case in 0..cases {
        let ties = case % 3 == 0;
        let real = if ties { rng.gen_range(1..16) as f64 * 2f64.powi(rng.gen_range(-9..0)) } else { 2f64.powf(rng.gen_range(-31.0..20.0)) };
        let Ok(multiplier) = FixedPointMultiplier::from_real(real) else { continue };
        let bias = match (case % 7, ties) {
            (0, _) => 0,
            (_, true) => rng.gen_range(-300..300),
            _ => rng.gen(),
        };
        let channel = ChannelRequant { multiplier, bias };
        let (zp, lo): (u8, u8) = (rng.gen(), if rng.gen() { 0 } else { rng.gen() });
        let lo = lo.min(zp);
        // Offset by the case so that four lanes too reach every extreme.
        let acc: [i32; N] = std::array::from_fn(|i| match rng.gen_range(0..4) {
            0 => extremes[(case + i) % extremes.len()],
            1 => rng.gen(),
            _ if ties => rng.gen_range(-2_000..2_000),
            _ => rng.gen_range(-100_000..100_000),
        });
        for (got, &a) in lanes(acc, &channel, zp, lo).iter().zip(&acc) {
            let want = requantize_one(&channel, zp, lo, a);
            assert_eq!(*got, want as i32, "acc {a} {channel:?} zp {zp} lo {lo}");
            checked += 1;
            let product = a.wrapping_add(bias) as i64 * multiplier.mantissa as i64;
            let tie = product.rem_euclid(1 << (31 - multiplier.exponent)) == 1 << (30 - multiplier.exponent);
            inner_ties += usize::from(tie && want > lo && want < u8::MAX);
        }
    }
    assert!(checked > cases * N / 2, "{checked}");
    assert!(inner_ties > 100, "{inner_ties}");
}

#[test]
fn mismatched_operands_are_errors() {
    let k = Int8Kernels::generic();
    let pa = k.pack_weights(&[1; 6], 2, 3).unwrap();
    let mut pb = k.activations();
    pb.pack(&[1; 8], 4, 2).unwrap();
    assert!(matches!(k.gemm_i32(&pa, &pb, &mut [0; 4], Split::Auto), Err(QuantError::LengthMismatch { .. })));
    pb.pack(&[1; 6], 3, 2).unwrap();
    assert!(matches!(k.gemm_i32(&pa, &pb, &mut [0; 5], Split::Auto), Err(QuantError::LengthMismatch { .. })));
    let long = super::int8::MAX_DEPTH + 1;
    let (pa_long, mut pb_long) = (k.pack_weights(&vec![0; long], 1, long).unwrap(), k.activations());
    pb_long.pack(&vec![0; long], long, 1).unwrap();
    assert!(matches!(k.gemm_i32(&pa_long, &pb_long, &mut [0; 1], Split::Auto), Err(QuantError::DepthTooLarge { .. })));
    let quads = Int8Kernels::generic_quads();
    assert!(matches!(
        quads.gemm_i32(&pa, &pb, &mut [0; 4], Split::Auto),
        Err(QuantError::LayoutMismatch { operand: "weights", .. })
    ));
    let pa = quads.pack_weights(&[1; 6], 2, 3).unwrap();
    assert!(matches!(
        quads.gemm_i32(&pa, &pb, &mut [0; 4], Split::Auto),
        Err(QuantError::LayoutMismatch { operand: "activations", .. })
    ));
}

/// Direct convolution in integers, no im2col: `Σ w·x` with the zero point outside the image.
fn reference_conv_acc(x: &[u8], w: &[i8], s: ConvShape, o: usize, zp: u8) -> Vec<i32> {
    let (oh, ow, k) = (s.out_height(), s.out_width(), s.kernel);
    let mut out = vec![0i32; o * oh * ow];
    for oc in 0..o {
        for y in 0..oh {
            for xo in 0..ow {
                let mut acc = 0i32;
                for c in 0..s.channels {
                    for i in 0..k {
                        for j in 0..k {
                            let iy = (y * s.stride + i) as isize - s.padding as isize;
                            let ix = (xo * s.stride + j) as isize - s.padding as isize;
                            let inside = (0..s.height as isize).contains(&iy) && (0..s.width as isize).contains(&ix);
                            let v = if inside { x[(c * s.height + iy as usize) * s.width + ix as usize] } else { zp };
                            acc += w[((oc * s.channels + c) * k + i) * k + j] as i32 * v as i32;
                        }
                    }
                }
                out[(oc * oh + y) * ow + xo] = acc;
            }
        }
    }
    out
}

/// Float convolution of real values (zero padding), plus bias, optional ReLU.
fn float_conv(x: &[f32], w: &[f32], bias: &[f32], s: ConvShape, o: usize, relu: bool) -> Vec<f32> {
    let (oh, ow, k) = (s.out_height(), s.out_width(), s.kernel);
    let mut out = vec![0f32; o * oh * ow];
    for oc in 0..o {
        for y in 0..oh {
            for xo in 0..ow {
                let mut acc = bias[oc] as f64;
                for c in 0..s.channels {
                    for i in 0..k {
                        for j in 0..k {
                            let iy = (y * s.stride + i) as isize - s.padding as isize;
                            let ix = (xo * s.stride + j) as isize - s.padding as isize;
                            if (0..s.height as isize).contains(&iy) && (0..s.width as isize).contains(&ix) {
                                let v = x[(c * s.height + iy as usize) * s.width + ix as usize] as f64;
                                acc += w[((oc * s.channels + c) * k + i) * k + j] as f64 * v;
                            }
                        }
                    }
                }
                out[(oc * oh + y) * ow + xo] = if relu { acc.max(0.0) as f32 } else { acc as f32 };
            }
        }
    }
    out
}

#[test]
fn quantized_conv_equals_the_integer_reference_and_tracks_the_float_conv() {
    let mut rng = SmallRng::seed_from_u64(68);
    let cases = [(3, 9, 11, 5, 3, 1, 1), (4, 7, 7, 6, 3, 2, 1), (2, 8, 5, 13, 1, 1, 0), (5, 10, 10, 8, 5, 1, 2), (16, 14, 14, 32, 3, 1, 1)];
    for (ci, (c, h, w, o, k, stride, pad)) in cases.into_iter().enumerate() {
        let relu = ci % 2 == 0;
        let s = ConvShape::new(c, h, w, k, stride, pad).unwrap();
        let xf: Vec<f32> = (0..c * h * w).map(|_| rng.gen_range(-1.0..2.0)).collect();
        let wf: Vec<f32> = (0..o * s.depth()).map(|_| rng.gen_range(-0.3..0.3)).collect();
        let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-0.5..0.5)).collect();
        let input = ActivationQParams::from_range(-1.0, 2.0).unwrap();
        let qw = QuantizedWeights::quantize(&wf, o).unwrap();
        // The output range from the float conv of the dequantized operands.
        let xd = input.dequantize_slice(&input.quantize_slice(&xf));
        let wd = qw.dequantize();
        let exact = float_conv(&xd, &wd, &bias, s, o, relu);
        let (lo, hi) = exact.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        let output = ActivationQParams::from_range(lo, hi).unwrap();

        let xq = input.quantize_slice(&xf);
        let acc = reference_conv_acc(&xq, &qw.values, s, o, input.zero_point);
        let plane = s.positions();
        let stage = OutputStage::new(input, &qw, Some(&bias), output, relu).unwrap();
        let want: Vec<u8> = acc.iter().enumerate().map(|(i, &v)| stage.requantize(i / plane, v)).collect();
        for kernels in tables() {
            let conv = QuantizedConv2d::new(&kernels, s, &qw, Some(&bias), input, output, relu).unwrap();
            let mut got = vec![0; o * plane];
            conv.forward(&xq, &mut got, &mut ConvScratch::default(), Split::Auto).unwrap();
            assert_eq!(got, want, "{} case {ci}", kernels.name);
        }
        // Same operands in float: the integer path is within one output step.
        for (i, (&q, &e)) in want.iter().zip(&exact).enumerate() {
            let diff = (output.dequantize(q) - e).abs();
            assert!(diff <= output.scale.get() * 1.0001, "case {ci} at {i}: {} vs {e}", output.dequantize(q));
        }
        // Against the original float weights and inputs the error is the quantization noise: on
        // average well under one step.
        let float = float_conv(&xf, &wf, &bias, s, o, relu);
        let mean: f32 = want.iter().zip(&float).map(|(&q, &f)| (output.dequantize(q) - f).abs()).sum::<f32>() / float.len() as f32;
        assert!(mean <= output.scale.get(), "case {ci}: mean error {mean} vs step {}", output.scale.get());
    }
}

/// Both ways of building the patch matrix (wide from the padded input, gathered) give the integer
/// reference exactly, on stride-1 shapes with and without padding, even and odd kernels, one
/// channel, non-square inputs, widths that leave tail panels, and depths that end in a partial unit
/// after the four-panel packer.
#[test]
fn wide_and_gathered_patches_agree_with_the_reference() {
    use super::conv_u8::Patches;
    let mut rng = SmallRng::seed_from_u64(69);
    // The last five read channel quads on AMX: 32 channels, 45 (three missing in the last quad),
    // 128 (two tiles of quads per kernel offset), a 5×5 kernel, no padding.
    let cases = [
        (1, 5, 7, 3, 3, 1), (3, 6, 6, 7, 3, 0), (2, 9, 4, 5, 2, 1), (4, 8, 8, 13, 5, 2), (6, 3, 11, 2, 1, 0), (8, 14, 14, 17, 3, 1),
        (1, 20, 40, 5, 3, 1), (5, 20, 30, 9, 3, 1),
        (32, 6, 7, 9, 3, 1), (45, 5, 5, 33, 3, 1), (128, 4, 5, 18, 3, 1), (40, 7, 6, 20, 5, 2), (32, 6, 6, 16, 3, 0),
    ];
    for (c, h, w, o, k, pad) in cases {
        let s = ConvShape::new(c, h, w, k, 1, pad).unwrap();
        let x: Vec<u8> = (0..c * h * w).map(|_| if rng.gen_range(0..4) == 0 { 255 } else { rng.gen() }).collect();
        let x = &x[..];
        let wf: Vec<f32> = (0..o * s.depth()).map(|_| rng.gen_range(-0.3..0.3)).collect();
        let qw = QuantizedWeights::quantize(&wf, o).unwrap();
        let input = ActivationQParams::from_range(-1.0, 2.0).unwrap();
        let output = ActivationQParams::from_range(-40.0, 40.0).unwrap();
        let stage = OutputStage::new(input, &qw, None, output, false).unwrap();
        let acc = reference_conv_acc(x, &qw.values, s, o, input.zero_point);
        let want: Vec<u8> = acc.iter().enumerate().map(|(i, &v)| stage.requantize(i / s.positions(), v)).collect();
        for kernels in tables() {
            let weights = kernels.pack_weights(&qw.values, o, s.depth()).unwrap();
            let quads = kernels.quad_conv(s, &qw.values, o);
            for patches in [Patches::Wide, Patches::Gathered] {
                // Every split: the threaded ones store tiles of one output from two threads.
                for split in [Split::Auto, Split::Rows, Split::Columns] {
                    let mut got = vec![0; o * s.positions()];
                    let mut scratch = ConvScratch::default();
                    for _ in 0..2 {
                        // Twice through one scratch: buffers left by a call do not leak into the next.
                        scratch.conv(&kernels, s, patches, (&weights, quads.as_ref(), None), &stage, input.zero_point, x, &mut got, split).unwrap();
                        assert_eq!(got, want, "{} {patches:?} {split:?} {s:?}", kernels.name);
                    }
                }
            }
        }
    }
}

/// A stride-2 conv over its input's phases with only the tap rows of the patch matrix
/// ([`SpaceToDepth::tap_steps`](super::SpaceToDepth::tap_steps) against its `tap_weights`) gives
/// the stride-2 conv's integer reference exactly, on every table and split: kernels 2–7, with and
/// without padding, odd and even sides, channel counts that leave partial depth units. Steps that
/// do not match the weights are an error.
#[test]
fn stride_2_convs_over_the_phases_tap_rows_agree_with_the_reference() {
    use super::conv_u8::Patches;
    use super::{ConvGeometry, SpaceToDepth};
    let mut rng = SmallRng::seed_from_u64(70);
    let cases = [(3, 15, 15, 8, 7, 3), (5, 9, 8, 7, 3, 1), (8, 12, 12, 13, 3, 1), (2, 10, 7, 5, 2, 0), (16, 8, 8, 20, 3, 1), (3, 11, 13, 6, 5, 2)];
    for (c, h, w, o, k, pad) in cases {
        let s = ConvShape::new(c, h, w, k, 2, pad).unwrap();
        let s2d = SpaceToDepth::new(ConvGeometry::new(c, h, w, k, 2, pad).unwrap()).unwrap();
        let g = s2d.geometry();
        let form = ConvShape::new(g.channels(), g.height(), g.width(), g.kernel(), 1, 0).unwrap();
        let x: Vec<u8> = (0..c * h * w).map(|_| if rng.gen_range(0..4) == 0 { 255 } else { rng.gen() }).collect();
        let wf: Vec<f32> = (0..o * s.depth()).map(|_| rng.gen_range(-0.3..0.3)).collect();
        let qw = QuantizedWeights::quantize(&wf, o).unwrap();
        let input = ActivationQParams::from_range(-1.0, 2.0).unwrap();
        let output = ActivationQParams::from_range(-40.0, 40.0).unwrap();
        let stage = OutputStage::new(input, &qw, None, output, true).unwrap();
        let acc = reference_conv_acc(&x, &qw.values, s, o, input.zero_point);
        let want: Vec<u8> = acc.iter().enumerate().map(|(i, &v)| stage.requantize(i / s.positions(), v)).collect();
        let mut phases = vec![0; s2d.len()];
        s2d.rearrange(&x, input.zero_point, &mut phases, false).unwrap();
        let (steps, values) = (s2d.tap_steps(), s2d.tap_weights(&qw.values, o).unwrap());
        assert_eq!(steps.len(), s.depth(), "one row per tap of the kernel");
        for kernels in tables() {
            let weights = kernels.pack_weights(&values, o, steps.len()).unwrap();
            for split in [Split::Auto, Split::Rows, Split::Columns] {
                let mut got = vec![0; o * s.positions()];
                let mut scratch = ConvScratch::default();
                scratch.conv(&kernels, form, Patches::Wide, (&weights, None, Some(&steps)), &stage, input.zero_point, &phases, &mut got, split).unwrap();
                assert_eq!(got, want, "{} {split:?} {s:?}", kernels.name);
            }
            let mut got = vec![0; o * s.positions()];
            let short = &steps[..steps.len() - 1];
            let err = ConvScratch::default().conv(&kernels, form, Patches::Wide, (&weights, None, Some(short)), &stage, input.zero_point, &phases, &mut got, Split::Auto);
            assert!(matches!(err, Err(QuantError::LengthMismatch { .. })), "{}: steps one short", kernels.name);
        }
    }
}

#[test]
fn wide_columns_that_do_not_fit_the_output_are_errors() {
    use super::int8::Columns;
    let kernels = Int8Kernels::best();
    let w = QuantizedWeights::quantize(&[0.1; 6], 2).unwrap(); // 2 × 3
    let a = kernels.pack_weights(&w.values, 2, 3).unwrap();
    let mut b = kernels.activations_for(&a);
    b.pack(&[1; 3 * 7], 3, 7).unwrap(); // 7 wide columns: rows of 3 kept out of 4, two rows
    let p = ActivationQParams::from_range(0.0, 1.0).unwrap();
    let stage = OutputStage::new(p, &w, None, p, false).unwrap();
    let mut out = vec![0; 2 * 6];
    let good = Columns::Wide { wp: 4, ow: 3, plane: 6 };
    kernels.gemm_u8_into(&a, &b, &stage, &mut out, good, Split::Sequential).unwrap();
    for bad in [Columns::Wide { wp: 4, ow: 5, plane: 10 }, Columns::Wide { wp: 3, ow: 3, plane: 6 }, Columns::Wide { wp: 4, ow: 3, plane: 9 }] {
        let mut out = vec![0; bad.len(2, 7)];
        let err = kernels.gemm_u8_into(&a, &b, &stage, &mut out, bad, Split::Sequential);
        assert!(matches!(err, Err(QuantError::LengthMismatch { .. })), "{bad:?}");
    }
}
