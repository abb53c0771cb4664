//! `compress!`'s generated `from_source` for a `factorize` schedule: the error of the factorized
//! layer equals the Frobenius norm of the discarded singular values; safetensors round trip.

mod support;

use fasterai::compress::factorize::singular_values;
use fasterai::dfdx::shapes::Const;
use fasterai::dfdx::tensor::SampleTensor;
use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [48])]
pub struct Mlp {
    fc1: Linear<48, 40>, relu1: ReLU,
    fc2: Linear<40, 10>,
}

compress! {
    /// fc1 at rank 12.
    pub LowRank = Mlp { factorize(fc1 = 12) }
}

/// Row-major `(O, I)` product of `second (O, K)` and `first (K, I)`.
fn product(second: &[f32], first: &[f32], o: usize, k: usize, i: usize) -> Vec<f64> {
    let mut out = vec![0f64; o * i];
    for r in 0..o {
        for m in 0..k {
            for c in 0..i {
                out[r * i + c] += second[r * k + m] as f64 * first[m * i + c] as f64;
            }
        }
    }
    out
}

#[test]
fn the_error_is_the_norm_of_the_discarded_singular_values() {
    let dev = Cpu::default();
    let model = dev.build_module::<Mlp, f32>();
    let low = LowRank::from_source(&model).unwrap();
    let weight = model.fc1.weight.as_vec();
    let approx = product(&low.fc1_out.weight.as_vec(), &low.fc1_in.weight.as_vec(), 40, 12, 48);
    let error: f64 = weight.iter().zip(&approx).map(|(w, a)| (*w as f64 - a).powi(2)).sum::<f64>().sqrt();
    let sigma = singular_values("fc1", &weight, 40, 48).unwrap();
    let discarded: f64 = sigma[12..].iter().map(|s| s * s).sum::<f64>().sqrt();
    assert!((error - discarded).abs() <= 1e-4 * discarded.max(1.0), "{error} vs {discarded}");
    assert_eq!(low.fc1_out.bias.as_vec(), model.fc1.bias.as_vec());
    assert_eq!(low.fc2.weight.as_vec(), model.fc2.weight.as_vec());
    let x: Tensor<(usize, Const<48>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
    let _: Tensor<(usize, Const<10>), f32, Cpu> = low.forward(x);
}

#[test]
fn the_factorized_type_round_trips_through_safetensors() {
    let dev = Cpu::default();
    let low = LowRank::from_source(&dev.build_module::<Mlp, f32>()).unwrap();
    let loaded = support::safetensors::round_trip(&low, dev.build_module::<LowRank, f32>(), "lowrank");
    assert_eq!(loaded.fc1_in.weight.as_vec(), low.fc1_in.weight.as_vec());
    assert_eq!(loaded.fc1_out.bias.as_vec(), low.fc1_out.bias.as_vec());
}
