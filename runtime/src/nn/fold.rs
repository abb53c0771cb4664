//! BatchNorm folding arithmetic (the `fold` technique of `compress::fold`, and what the frozen
//! plans fold with): merge an evaluation-mode BatchNorm into the conv or linear layer before it.
//!
//! In evaluation a BatchNorm is an affine map per channel,
//! `y = (x − μ)·γ/√(σ² + ε) + β`. Applied to the output of `x ↦ W·x + b` it gives another layer of
//! the same shape with, per output channel `o` and `s_o = γ_o/√(σ²_o + ε)`:
//!
//! - `W'[o, ..] = W[o, ..] · s_o`
//! - `b'[o] = (b[o] − μ_o) · s_o + β_o` (with `b = 0` when the layer has no bias)
//!
//! so the BatchNorm disappears and the layer gains a bias. The arithmetic runs in `f64` and rounds
//! once to `f32`. Only evaluation-mode behaviour is preserved: fold after training.
//!
//! [`fold_into`] works on plain slices (weights out-channel-major: row `o` holds every weight of
//! output `o`); [`fold_conv_bn`] and [`fold_linear_bn`] are typed wrappers on dfdx tensors whose
//! shapes rustc checks.
//!
//! ```
//! use fasterai_runtime::nn::fold::{fold_into, BnStats};
//! // One output channel with two weights, bias 1; BN: γ = 2, β = 0.5, μ = 1, σ² = 3, ε = 1.
//! let bn = BnStats { gamma: &[2.0], beta: &[0.5], mean: &[1.0], var: &[3.0], epsilon: 1.0 };
//! let (w, b) = fold_into("conv1", &[1.0, -2.0], Some(&[1.0]), &bn).unwrap();
//! assert_eq!(w, vec![1.0, -2.0]); // s = 2/√4 = 1
//! assert_eq!(b, vec![0.5]);       // (1 − 1)·1 + 0.5
//! ```

use dfdx::prelude::{Cpu, HasShape, Rank1, Rank2, Rank4, Tensor, TensorFromVec};

use super::{BatchNorm1D, BatchNorm2D};

/// Folding a BatchNorm into the layer before it failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    /// The slices given do not describe one layer and one BatchNorm of matching width.
    #[error(
        "cannot fold into `{layer}`: {what} has {got} values where {expected} were expected \
         (weights are out-channel-major, one BatchNorm entry per output channel)"
    )]
    Length {
        /// The layer being folded.
        layer: String,
        /// Which slice ("weight", "bias", "running_var", ...).
        what: &'static str,
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// `running_var + epsilon` is not a positive finite number, so `1/sqrt(·)` does not exist.
    #[error(
        "cannot fold the BatchNorm after `{layer}`: channel {channel} has running_var {variance} and \
         epsilon {epsilon}, whose sum is not positive and finite; check the BatchNorm's statistics"
    )]
    BadVariance {
        /// The layer being folded.
        layer: String,
        /// The output channel.
        channel: usize,
        /// Its running variance.
        variance: f64,
        /// The BatchNorm's epsilon.
        epsilon: f64,
    },
}

/// The evaluation-mode statistics of a BatchNorm, one entry per channel.
#[derive(Debug, Clone, Copy)]
pub struct BnStats<'a> {
    /// Scale γ (PyTorch's `weight`, dfdx's `scale`).
    pub gamma: &'a [f32],
    /// Shift β (`bias`).
    pub beta: &'a [f32],
    /// Running mean μ.
    pub mean: &'a [f32],
    /// Running variance σ².
    pub var: &'a [f32],
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

/// Folds `bn` into a layer with out-channel-major `weight` and optional `bias`; returns the new
/// weight (same length and order) and the new bias (one per output channel).
///
/// `layer` names the layer in errors. Errors when the slices do not match (the number of output
/// channels is `bn.gamma.len()`) or when some `σ² + ε` is not positive and finite.
///
/// ```
/// use fasterai_runtime::nn::fold::{fold_into, BnStats};
/// let bn = BnStats { gamma: &[1.0, 1.0], beta: &[0.0, 0.0], mean: &[0.0, 0.0], var: &[1.0, 1.0], epsilon: 0.0 };
/// // Three weights per output: the layer had two outputs, so six weights.
/// assert!(fold_into("fc", &[0.0; 6], None, &bn).is_ok());
/// assert!(fold_into("fc", &[0.0; 5], None, &bn).is_err());
/// ```
pub fn fold_into(
    layer: &str,
    weight: &[f32],
    bias: Option<&[f32]>,
    bn: &BnStats<'_>,
) -> Result<(Vec<f32>, Vec<f32>), FoldError> {
    let outputs = bn.gamma.len();
    let length = |what, expected, got| FoldError::Length { layer: layer.to_string(), what, expected, got };
    if outputs == 0 {
        return Err(length("BatchNorm gamma", 1, 0));
    }
    for (what, got) in
        [("BatchNorm beta", bn.beta.len()), ("running_mean", bn.mean.len()), ("running_var", bn.var.len())]
    {
        if got != outputs {
            return Err(length(what, outputs, got));
        }
    }
    if let Some(b) = bias {
        if b.len() != outputs {
            return Err(length("bias", outputs, b.len()));
        }
    }
    if weight.is_empty() || !weight.len().is_multiple_of(outputs) {
        let expected = outputs * (weight.len() / outputs).max(1);
        return Err(length("weight", expected, weight.len()));
    }
    let per_output = weight.len() / outputs;

    let mut new_weight = Vec::with_capacity(weight.len());
    let mut new_bias = Vec::with_capacity(outputs);
    for o in 0..outputs {
        let denominator = f64::from(bn.var[o]) + bn.epsilon;
        if !(denominator > 0.0 && denominator.is_finite()) {
            return Err(FoldError::BadVariance {
                layer: layer.to_string(),
                channel: o,
                variance: f64::from(bn.var[o]),
                epsilon: bn.epsilon,
            });
        }
        let scale = f64::from(bn.gamma[o]) / denominator.sqrt();
        let row = &weight[o * per_output..(o + 1) * per_output];
        new_weight.extend(row.iter().map(|&w| (f64::from(w) * scale) as f32));
        let b = bias.map_or(0.0, |b| f64::from(b[o]));
        new_bias.push(((b - f64::from(bn.mean[o])) * scale + f64::from(bn.beta[o])) as f32);
    }
    Ok((new_weight, new_bias))
}

/// Folds our [`BatchNorm2D`] into the conv before it, given the conv's weight `(O, I, K, K)` and
/// bias (`None` for an unbiased conv). Returns the weight and bias of the new biased conv; stride
/// and padding are unchanged.
///
/// ```
/// use fasterai_runtime::nn::fold::fold_conv_bn;
/// use fasterai_runtime::nn::BatchNorm2D;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let weight = dev.sample_normal::<Rank4<4, 3, 3, 3>>();
/// let bias = dev.sample_normal::<Rank1<4>>();
/// let bn = dev.build_module::<BatchNorm2D<4>, f32>();
/// let (w, b) = fold_conv_bn("conv1", &weight, Some(&bias), &bn)?;
/// // A fresh BatchNorm (γ = 1, β = 0, μ = 0, σ² = 1) barely changes anything.
/// assert!((w.as_vec()[0] - weight.as_vec()[0]).abs() < 1e-4);
/// # Ok::<(), fasterai_runtime::compress::FoldError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn fold_conv_bn<const I: usize, const O: usize, const K: usize>(
    layer: &str,
    weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
    bn: &BatchNorm2D<O>,
) -> Result<(Tensor<Rank4<O, I, K, K>, f32, Cpu>, Tensor<Rank1<O>, f32, Cpu>), FoldError> {
    let (gamma, beta, mean, var) =
        (bn.weight.as_vec(), bn.bias.as_vec(), bn.running_mean.as_vec(), bn.running_var.as_vec());
    let stats = BnStats { gamma: &gamma, beta: &beta, mean: &mean, var: &var, epsilon: bn.epsilon };
    let bias = bias.map(|b| b.as_vec());
    let (w, b) = fold_into(layer, &weight.as_vec(), bias.as_deref(), &stats)?;
    let dev = weight.device();
    Ok((dev.tensor_from_vec(w, *weight.shape()), dev.tensor_from_vec(b, (dfdx::shapes::Const::<O>,))))
}

/// Folds dfdx's [`BatchNorm1D`] into the Linear before it, given the Linear's weight `(O, I)` and
/// bias (`None` for an unbiased Linear). Returns the weight and bias of the new biased Linear.
///
/// ```
/// use fasterai_runtime::nn::fold::fold_linear_bn;
/// use fasterai_runtime::nn::{BatchNorm1D, Linear};
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let fc: Linear<8, 4> = BuildModule::build(&dev);
/// let bn: BatchNorm1D<4> = BuildModule::build(&dev);
/// let (weight, bias) = fold_linear_bn("fc1", &fc.weight, Some(&fc.bias), &bn)?;
/// let folded: Linear<8, 4> = Linear { weight, bias };
/// # let _ = folded;
/// # Ok::<(), fasterai_runtime::compress::FoldError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn fold_linear_bn<const I: usize, const O: usize>(
    layer: &str,
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
    bias: Option<&Tensor<Rank1<O>, f32, Cpu>>,
    bn: &BatchNorm1D<O>,
) -> Result<(Tensor<Rank2<O, I>, f32, Cpu>, Tensor<Rank1<O>, f32, Cpu>), FoldError> {
    let (gamma, beta, mean, var) =
        (bn.scale.as_vec(), bn.bias.as_vec(), bn.running_mean.as_vec(), bn.running_var.as_vec());
    let stats = BnStats { gamma: &gamma, beta: &beta, mean: &mean, var: &var, epsilon: bn.epsilon };
    let bias = bias.map(|b| b.as_vec());
    let (w, b) = fold_into(layer, &weight.as_vec(), bias.as_deref(), &stats)?;
    let dev = weight.device();
    Ok((dev.tensor_from_vec(w, *weight.shape()), dev.tensor_from_vec(b, (dfdx::shapes::Const::<O>,))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{conv2d_reference, random_vec, ConvGeometry};
    use crate::nn::{BatchNorm1D, BatchNorm2D, Linear};
    use dfdx::prelude::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Random BatchNorm statistics: γ of both signs, β and μ anywhere, σ² in [0.05, 3].
    fn random_bn2d<const C: usize>(dev: &Cpu, rng: &mut SmallRng) -> BatchNorm2D<C> {
        let mut bn: BatchNorm2D<C> = BuildModule::build(dev);
        bn.weight = dev.tensor_from_vec(random_vec(rng, C, 2.0), (Const::<C>,));
        bn.bias = dev.tensor_from_vec(random_vec(rng, C, 1.0), (Const::<C>,));
        bn.running_mean = dev.tensor_from_vec(random_vec(rng, C, 1.5), (Const::<C>,));
        let var: Vec<f32> = (0..C).map(|_| rng.gen_range(0.05..3.0)).collect();
        bn.running_var = dev.tensor_from_vec(var, (Const::<C>,));
        bn.epsilon = 1e-3;
        bn
    }

    #[test]
    fn folded_conv_matches_conv_then_eval_batchnorm() {
        const I: usize = 3;
        const O: usize = 5;
        const K: usize = 3;
        let dev: Cpu = Default::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let geometry = ConvGeometry {
            batch: 2,
            inputs: I,
            outputs: O,
            kernel: K,
            stride: 2,
            padding: 1,
            height: 7,
            width: 6,
        };
        let weight = dev.tensor_from_vec(
            random_vec(&mut rng, O * I * K * K, 0.5),
            (Const::<O>, Const::<I>, Const::<K>, Const::<K>),
        );
        let x = random_vec(&mut rng, geometry.input_len(), 1.0);
        let bn = random_bn2d::<O>(&dev, &mut rng);
        for with_bias in [true, false] {
            let bias = dev.tensor_from_vec(random_vec(&mut rng, O, 0.5), (Const::<O>,));
            let bias = with_bias.then_some(&bias);
            let zeros = vec![0.0; O];
            let conv_out = conv2d_reference(
                &geometry,
                &x,
                &weight.as_vec(),
                bias.map(|b| b.as_vec()).as_deref().unwrap_or(&zeros),
            );
            let (oh, ow) = geometry.output_hw();
            let conv_out = dev.tensor_from_vec(conv_out, (2usize, Const::<O>, oh, ow));
            let expected = bn.forward(conv_out).as_vec();

            let (w, b) = fold_conv_bn("conv", &weight, bias, &bn).unwrap();
            let folded = conv2d_reference(&geometry, &x, &w.as_vec(), &b.as_vec());
            let worst = expected.iter().zip(&folded).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-4, "bias {with_bias}: max |BN(conv(x)) − folded(x)| = {worst}");
        }
    }

    #[test]
    fn folded_linear_matches_linear_then_eval_batchnorm1d() {
        let dev: Cpu = Default::default();
        let mut rng = SmallRng::seed_from_u64(11);
        let fc: Linear<12, 6> = BuildModule::build(&dev);
        let mut bn: BatchNorm1D<6> = BuildModule::build(&dev);
        bn.scale = dev.tensor_from_vec(random_vec(&mut rng, 6, 2.0), (Const::<6>,));
        bn.bias = dev.tensor_from_vec(random_vec(&mut rng, 6, 1.0), (Const::<6>,));
        bn.running_mean = dev.tensor_from_vec(random_vec(&mut rng, 6, 1.0), (Const::<6>,));
        bn.running_var =
            dev.tensor_from_vec((0..6).map(|_| rng.gen_range(0.05f32..3.0)).collect(), (Const::<6>,));
        let x: Tensor<(usize, Const<12>), f32, Cpu> =
            dev.tensor_from_vec(random_vec(&mut rng, 4 * 12, 1.0), (4usize, Const::<12>));

        let expected = bn.forward(fc.forward(x.clone())).as_vec();
        let (weight, bias) = fold_linear_bn("fc", &fc.weight, Some(&fc.bias), &bn).unwrap();
        let folded: Linear<12, 6> = Linear { weight, bias };
        let got = folded.forward(x.clone()).as_vec();
        let worst = expected.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "max |BN(fc(x)) − folded(x)| = {worst}");

        // Without bias: the same as a Linear whose bias is zero.
        let zero_bias = dev.zeros::<Rank1<6>>();
        let unbiased = Linear { weight: fc.weight.clone(), bias: zero_bias };
        let expected = bn.forward(unbiased.forward(x.clone())).as_vec();
        let (weight, bias) = fold_linear_bn("fc", &fc.weight, None, &bn).unwrap();
        let got = Linear::<12, 6> { weight, bias }.forward(x).as_vec();
        let worst = expected.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "unbiased: max diff {worst}");
    }

    #[test]
    fn fold_formula_on_a_hand_checked_case() {
        // s = γ/√(σ²+ε) = 3/√(8+1) = 1; b' = (2 − 1)·1 + 0.25.
        let bn = BnStats { gamma: &[3.0], beta: &[0.25], mean: &[1.0], var: &[8.0], epsilon: 1.0 };
        let (w, b) = fold_into("l", &[0.5, -1.5], Some(&[2.0]), &bn).unwrap();
        assert_eq!((w, b), (vec![0.5, -1.5], vec![1.25]));
    }

    #[test]
    fn mismatched_slices_and_bad_variances_are_errors_naming_the_layer() {
        let ok = BnStats {
            gamma: &[1.0, 1.0],
            beta: &[0.0, 0.0],
            mean: &[0.0, 0.0],
            var: &[1.0, 1.0],
            epsilon: 1e-5,
        };
        let cases: Vec<(Result<_, FoldError>, &str)> = vec![
            (fold_into("c1", &[0.0; 5], None, &ok), "weight"),
            (fold_into("c1", &[], None, &ok), "weight"),
            (fold_into("c1", &[1.0], None, &BnStats { gamma: &[], ..ok }), "gamma has 0 values"),
            (fold_into("c1", &[0.0; 4], Some(&[0.0]), &ok), "bias"),
            (fold_into("c1", &[0.0; 4], None, &BnStats { beta: &[0.0], ..ok }), "beta"),
            (fold_into("c1", &[0.0; 4], None, &BnStats { mean: &[0.0; 3], ..ok }), "running_mean"),
            (fold_into("c1", &[0.0; 4], None, &BnStats { var: &[], ..ok }), "running_var"),
            (fold_into("c1", &[0.0; 4], None, &BnStats { var: &[1.0, -2.0], ..ok }), "channel 1"),
            (
                fold_into("c1", &[0.0; 4], None, &BnStats { var: &[0.0, 1.0], epsilon: 0.0, ..ok }),
                "channel 0",
            ),
            (fold_into("c1", &[0.0; 4], None, &BnStats { var: &[f32::NAN, 1.0], ..ok }), "channel 0"),
        ];
        for (result, needle) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains("`c1`") && message.contains(needle), "{message} (wanted {needle})");
        }
    }
}
