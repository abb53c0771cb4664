//! Helpers of the deploy tests: models with random BatchNorm statistics, random images, comparisons.

use fasterai::model::{read_tensors, write_tensors, Compressible, LayerKindInfo};
use fasterai::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A fresh `M` built on `dev` whose BatchNorms have random statistics drawn from `seed`.
pub fn with_random_batch_norms<M>(dev: &Cpu, seed: u64) -> M
where
    M: Compressible + TensorCollection<f32, Cpu> + BuildOnDevice<Cpu, f32, Built = M>,
{
    let mut model = dev.build_module::<M, f32>();
    randomize_batch_norms(&mut model, seed);
    model
}

/// Gives every BatchNorm of `model` random statistics and affine parameters (so folding matters),
/// keeping the variance positive.
pub fn randomize_batch_norms<M>(model: &mut M, seed: u64)
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut rng = SmallRng::seed_from_u64(seed);
    let norms: Vec<&str> = M::LAYERS
        .iter()
        .filter(|l| matches!(l.kind, LayerKindInfo::BatchNorm2D { .. } | LayerKindInfo::BatchNorm1D { .. }))
        .map(|l| l.name)
        .collect();
    let mut updates: Vec<(String, Vec<f32>)> = Vec::new();
    for tensor in read_tensors(model) {
        let Some((layer, field)) = tensor.name.rsplit_once('.') else { continue };
        if !norms.contains(&layer) {
            continue;
        }
        let values = (0..tensor.numel())
            .map(|_| match field {
                "running_var" => rng.gen_range(0.3..2.0),
                "running_mean" => rng.gen_range(-0.5..0.5),
                "bias" => rng.gen_range(-0.3..0.3),
                _ => rng.gen_range(0.5..1.5), // γ: `weight` (ours) or `scale` (dfdx's BatchNorm1D)
            })
            .collect();
        updates.push((tensor.name, values));
    }
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(model, &borrowed).unwrap();
}

/// Redraws every conv and linear weight of `model` from a normal law (bell-shaped, as trained
/// weights are), where dfdx's initialization is uniform.
pub fn normal_weights<M>(model: &mut M, seed: u64)
where
    M: TensorCollection<f32, Cpu>,
{
    let mut rng = SmallRng::seed_from_u64(seed);
    let updates: Vec<(String, Vec<f32>)> = read_tensors(model)
        .into_iter()
        .filter(|t| t.name.ends_with("weight") && t.shape.len() >= 2)
        .map(|t| {
            let values = (0..t.numel())
                .map(|_| {
                    // Box–Muller, scaled like dfdx's bound so the activations keep their size.
                    let (u, v): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
                    0.3 * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos() / (t.numel() as f32 / t.shape[0] as f32).sqrt()
                })
                .collect();
            (t.name, values)
        })
        .collect();
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(model, &borrowed).unwrap();
}

/// `n` images of `len` values, uniform in [−1, 1] (or [0, 1] when `positive`).
pub fn random_images(n: usize, len: usize, seed: u64, positive: bool) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let lo = if positive { 0.0 } else { -1.0 };
    (0..n * len).map(|_| rng.gen_range(lo..1.0)).collect()
}

/// Largest absolute difference between two equal-length slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Largest absolute value.
pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Index of the largest value.
pub fn argmax(a: &[f32]) -> usize {
    a.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|(i, _)| i).unwrap()
}
