//! Adaptive pooling against PyTorch's bin rule, with literal expected values.

use dfdx::prelude::*;

use super::*;

/// 4×4 → 7×7 on x[h][w] = 4h + w (the values 0..16).
///
/// Bins for 4 inputs into 7 outputs, start = floor(4i/7), end = ceil(4(i+1)/7):
/// i=0: [0,1)  i=1: [0,2)  i=2: [1,2)  i=3: [1,3)  i=4: [2,3)  i=5: [2,4)  i=6: [3,4),
/// whose mean indices are m = 0, 0.5, 1, 1.5, 2, 2.5, 3. The input is linear in (h, w), so the mean
/// over a bin rectangle is 4·m_i + m_j: row i starts at 4·m_i and climbs by 0.5.
#[test]
fn adaptive_4x4_to_7x7_follows_pytorch_bins() {
    let dev = Cpu::default();
    let x = images(&dev, (0..16).map(|v| v as f32).collect(), (1, 1, 4, 4));
    let y = try_adaptive_avg_pool2d(x, 7, 7).unwrap();
    #[rustfmt::skip]
    let expected = [
         0.0,  0.5,  1.0,  1.5,  2.0,  2.5,  3.0,
         2.0,  2.5,  3.0,  3.5,  4.0,  4.5,  5.0,
         4.0,  4.5,  5.0,  5.5,  6.0,  6.5,  7.0,
         6.0,  6.5,  7.0,  7.5,  8.0,  8.5,  9.0,
         8.0,  8.5,  9.0,  9.5, 10.0, 10.5, 11.0,
        10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0,
        12.0, 12.5, 13.0, 13.5, 14.0, 14.5, 15.0,
    ];
    assert_eq!(y.as_vec(), expected);
}

/// 7×7 → 3×3 on x[h][w] = 7h + w (the values 0..49).
///
/// Bins for 7 inputs into 3 outputs, start = floor(7i/3), end = ceil(7(i+1)/3):
/// i=0: [0,3)  i=1: [2,5)  i=2: [4,7) (neighbouring bins share a pixel), with mean indices 1, 3, 5.
/// Output (i, j) = 7·m_i + m_j: 7+1, 7+3, 7+5 / 21+1, 21+3, 21+5 / 35+1, 35+3, 35+5.
#[test]
fn adaptive_7x7_to_3x3_follows_pytorch_bins() {
    let dev = Cpu::default();
    let x = images(&dev, (0..49).map(|v| v as f32).collect(), (1, 1, 7, 7));
    let y = try_adaptive_avg_pool2d(x, 3, 3).unwrap();
    assert_eq!(
        y.as_vec(),
        [8.0, 10.0, 12.0, 22.0, 24.0, 26.0, 36.0, 38.0, 40.0]
    );
}

#[test]
fn adaptive_bins_cover_every_input() {
    for (input, output) in [(4, 7), (7, 3), (10, 4), (1, 5), (13, 13)] {
        let mut covered = vec![false; input];
        for i in 0..output {
            let bin = adaptive_bin(i, input, output);
            assert!(
                !bin.is_empty() && bin.end <= input,
                "{input}->{output} bin {i} = {bin:?}"
            );
            covered[bin].iter_mut().for_each(|c| *c = true);
        }
        assert!(covered.iter().all(|&c| c), "{input}->{output}");
    }
}
