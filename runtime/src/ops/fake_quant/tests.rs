//! Fake quantization: forward values on literal grids (scales chosen exact in binary, so every
//! expected value is exact), agreement with the int8 engine's own quantizers, and the
//! straight-through gradient's mask on literals.

use super::*;
use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn dev() -> Cpu {
    Cpu::default()
}

/// Gradient of `Σ coeff·y` with respect to `x`, where `y = op(x)`.
fn gradient(
    x: &[f32],
    coeff: &[f32],
    op: impl FnOnce(
        Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Result<Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>>, QuantError>,
) -> Vec<f32> {
    let dev = dev();
    let x = dev.tensor_from_vec(x.to_vec(), (x.len(),));
    let c = dev.tensor_from_vec(coeff.to_vec(), (coeff.len(),));
    let y = op(x.leaky_trace()).unwrap();
    (y * c).sum().backward().get(&x).as_vec()
}

#[test]
fn weights_match_the_int8_engine_on_random_rows() {
    let mut rng = SmallRng::seed_from_u64(11);
    let (o, fan_in) = (7, 19);
    let w: Vec<f32> = (0..o * fan_in).map(|i| rng.gen_range(-1.0..1.0) * (1 + i % 5) as f32).collect();
    let want = QuantizedWeights::quantize(&w, o).unwrap().dequantize();
    let fq = fake_quantize_weight_values(&w, o).unwrap();
    assert_eq!(fq.values, want, "bit for bit what the int8 model will hold");
    let tensor = fake_quantize_weights(dev().tensor_from_vec(w, (o, fan_in))).unwrap();
    assert_eq!(tensor.as_vec(), want);
}

#[test]
fn weight_forward_and_gradient_on_a_literal_grid() {
    // Rows of absmax 127 (scale 1) and 63.5 (scale 0.5), as a 2×3 weight.
    let w = [127.0, -2.5, 3.5, -63.5, 0.75, 0.2];
    let want = [127.0, -2.0, 4.0, -63.5, 1.0, 0.0];
    let dev = dev();
    let x = dev.tensor_from_vec(w.to_vec(), (2, 3));
    let y = fake_quantize_weights(x.leaky_trace()).unwrap();
    assert_eq!(y.as_vec(), want);
    let c = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3));
    let g = (y * c).sum().backward();
    assert_eq!(g.get(&x).as_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "absmax scales clamp nothing: all pass");
}

#[test]
fn fixed_weight_scales_clamp_and_stop_the_gradient_outside_the_grid() {
    let scale = [Scale::new(0.5).unwrap()];
    // x/s: 20, 127, 127.5 → 128, 126, −128, −127.5 → −128, 0.4 → 0, −127.4 → −127
    let x = [10.0, 63.5, 63.75, 63.0, -64.0, -63.75, 0.2, -63.7];
    let want = [10.0, 63.5, 63.5, 63.0, -63.5, -63.5, 0.0, -63.5];
    let passes = [true, true, false, true, false, false, true, true];
    let fq = fake_quantize_weight_values_with_scales(&x, &scale).unwrap();
    assert_eq!(fq.values, want);
    assert_eq!(fq.passes, passes);
    let coeff = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let g = gradient(&x, &coeff, |t| fake_quantize_weights_with_scales(t, &scale));
    let masked: Vec<f32> = coeff.iter().zip(passes).map(|(&c, p)| if p { c } else { 0.0 }).collect();
    assert_eq!(g, masked);
}

#[test]
fn per_channel_scales_apply_row_by_row() {
    let scales = [Scale::new(1.0).unwrap(), Scale::new(0.25).unwrap()];
    let fq = fake_quantize_weight_values_with_scales(&[1.4, 200.0, 1.4, 40.0], &scales).unwrap();
    assert_eq!(fq.values, [1.0, 127.0, 1.5, 31.75]);
    assert_eq!(fq.passes, [true, false, true, false]);
}

#[test]
fn activation_forward_and_gradient_on_a_literal_grid() {
    // Scale 0.5, zero point 10: the grid runs from −5 to 122.5.
    let p = ActivationQParams { scale: Scale::new(0.5).unwrap(), zero_point: 10 };
    // round(x/s) + 10: 0, −10.5 → −10 → 0, −11 + 10 → −1, 255, 245.5 → 246 → 256, 2·0.3 → 1 → 11, 10
    let x = [-5.0, -5.25, -5.5, 122.5, 122.75, 0.3, 0.0];
    let want = [-5.0, -5.0, -5.0, 122.5, 122.5, 0.5, 0.0];
    let passes = [true, true, false, true, false, true, true];
    let fq = fake_quantize_activation_values(&x, p).unwrap();
    assert_eq!(fq.values, want);
    assert_eq!(fq.passes, passes);
    let want_engine: Vec<f32> = p.dequantize_slice(&p.quantize_slice(&x));
    assert_eq!(fq.values, want_engine, "the engine's own quantize / dequantize");
    let coeff = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let g = gradient(&x, &coeff, |t| fake_quantize_activations(t, p));
    let masked: Vec<f32> = coeff.iter().zip(passes).map(|(&c, p)| if p { c } else { 0.0 }).collect();
    assert_eq!(g, masked);
}

#[test]
fn the_gradient_accumulates_with_other_uses_of_the_input() {
    // y = fq(x) + x: the straight-through gradient adds to the identity's.
    let p = ActivationQParams::from_range(0.0, 255.0).unwrap();
    let dev = dev();
    let x = dev.tensor_from_vec(vec![-3.0f32, 4.2], (2,));
    let y = fake_quantize_activations(x.leaky_trace(), p).unwrap();
    let g = (y + x.clone()).sum().backward();
    assert_eq!(g.get(&x).as_vec(), [1.0, 2.0]);
}

#[test]
fn bad_input_is_an_error() {
    let p = ActivationQParams::from_range(0.0, 1.0).unwrap();
    assert!(matches!(
        fake_quantize_activation_values(&[0.0, f32::NAN], p),
        Err(QuantError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(fake_quantize_weight_values(&[1.0, 2.0, 3.0], 2), Err(QuantError::RaggedRows { .. })));
    let s = [Scale::new(1.0).unwrap(); 2];
    assert!(matches!(
        fake_quantize_weight_values_with_scales(&[1.0, 2.0, 3.0], &s),
        Err(QuantError::RaggedRows { .. })
    ));
    assert!(matches!(fake_quantize_weight_values_with_scales(&[1.0], &[]), Err(QuantError::RaggedRows { .. })));
    assert!(matches!(
        fake_quantize_weight_values_with_scales(&[f32::INFINITY], &s[..1]),
        Err(QuantError::NonFinite { index: 0, .. })
    ));
    let t = dev().tensor_from_vec(vec![1.0f32, f32::NAN], (2,));
    assert!(fake_quantize_weights(t.leaky_trace()).is_err(), "an error, not a panic, on the tape path");
}

#[test]
fn eight_bits_is_the_engine_grid_and_fewer_bits_are_coarser() {
    let mut rng = SmallRng::seed_from_u64(12);
    let (o, fan_in) = (5, 23);
    let w: Vec<f32> = (0..o * fan_in).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let engine = QuantizedWeights::quantize(&w, o).unwrap().dequantize();
    assert_eq!(fake_quantize_weight_values_to_bits(&w, o, 8).unwrap().values, engine);
    let error = |bits| {
        let fq = fake_quantize_weight_values_to_bits(&w, o, bits).unwrap();
        fq.values.iter().zip(&w).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>()
    };
    assert!(error(2) > error(4) && error(4) > error(8), "fewer levels, larger error");
    // 2 bits: integers in [−1, 1], scale = absmax.
    let two = fake_quantize_weight_values_to_bits(&[4.0, 1.9, 2.1, -3.0], 1, 2).unwrap();
    assert_eq!(two.values, [4.0, 0.0, 4.0, -4.0]);
    for bits in [0, 1, 9] {
        assert_eq!(fake_quantize_weight_values_to_bits(&w, o, bits).unwrap_err(), QuantError::UnsupportedBits(bits));
    }
}
