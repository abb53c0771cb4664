//! Knowledge-distillation losses (fasterai's `distill/losses.py`), on dfdx tensors.
//!
//! The student's tensors carry an [`OwnedTape`]; the teacher's carry none (the teacher runs without
//! a tape), so every gradient flows to the student alone. Teacher-side quantities are computed as plain
//! numbers and enter the graph as constants.
//!
//! Logit losses ([`DistillLoss::loss`]), with `p` the student logits and `q` the teacher's, both
//! `(batch, classes)`:
//! - `SoftTarget(T)`: `KL_batchmean(log_softmax(p/T) ‖ softmax(q/T)) · T²` (Hinton et al.).
//! - `Logits`: `MSE(p, q)`. `Mutual`: `KL_batchmean(log_softmax(p) ‖ softmax(q))`.
//! - `DecoupledKd(T, α, β)`: `(α·TCKD + β·NCKD)·T²` (Zhao et al.), class targets required.
//!
//! Feature losses ([`DistillLoss::feature_loss`], in [`super::features`]) compare pairs of
//! `(batch, C, H, W)` activations and sum over the pairs: `Attention(p)`, `FitNet`, `Similarity`,
//! `ActivationBoundaries(m)`.
//!
//! ```
//! use dfdx::prelude::*;
//! use fasterai_runtime::compress::distill::DistillLoss;
//! let dev: Cpu = Default::default();
//! let student = dev.tensor_from_vec(vec![1.0f32, 2.0, 0.5, -1.0], (2, 2));
//! let teacher = dev.tensor_from_vec(vec![1.0f32, 2.0, 0.5, -1.0], (2, 2));
//! let loss = DistillLoss::soft_target(4.0).unwrap().loss(student.leaky_trace(), &teacher, None).unwrap();
//! assert!(loss.array().abs() < 1e-6); // same distributions: no divergence
//! let grads = loss.backward();
//! assert_eq!(grads.get(&student).as_vec().len(), 4);
//! ```

use dfdx::prelude::*;

use crate::compress::CompressError;

/// Logits `(batch, classes)` with tape `T`.
pub type Logits<T = NoneTape> = Tensor<(usize, usize), f32, Cpu, T>;
pub use crate::model::FeatureMap;
/// The tape the student's tensors carry.
pub type Traced = OwnedTape<f32, Cpu>;
/// A scalar loss on the student's tape.
pub type Loss = Tensor<Rank0, f32, Cpu, Traced>;

/// A distillation loss. Build it with the checked constructors ([`DistillLoss::soft_target`], ...) or
/// directly; parameters are checked again when the loss is computed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistillLoss {
    /// KL divergence of temperature-softened distributions, times `T²` (fasterai's default T = 5).
    SoftTarget {
        /// Softening temperature, > 0.
        temperature: f32,
    },
    /// Mean squared error between logits.
    Logits,
    /// KL divergence of the plain softmaxes (T = 1).
    Mutual,
    /// Decoupled KD: target-class KD plus non-target-class KD (defaults T = 4, α = 1, β = 8).
    DecoupledKd {
        /// Softening temperature, > 0.
        temperature: f32,
        /// Weight of the target-class term (TCKD).
        alpha: f32,
        /// Weight of the non-target-class term (NCKD).
        beta: f32,
        /// Softmax over the C − 1 non-target classes only (NKD) instead of masking the target by −1000.
        normalize: bool,
    },
    /// Attention transfer: spatial maps `mean_c(F^p)`, L2-normalised, compared by MSE (default p = 2).
    Attention {
        /// Power applied to activations, ≥ 1.
        p: i32,
    },
    /// MSE between feature maps of equal shapes.
    FitNet,
    /// Similarity-preserving KD: batch Gram matrices `F·Fᵀ`, rows L2-normalised, compared by MSE.
    Similarity,
    /// Activation boundaries with margin `m` (default 2).
    ActivationBoundaries {
        /// Margin, ≥ 0.
        margin: f32,
    },
}

fn positive(loss: &'static str, what: &'static str, v: f32) -> Result<(), CompressError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(CompressError::BadParameter { loss, what, value: f64::from(v), hint: "give a finite value above 0" })
    }
}

fn non_negative(loss: &'static str, what: &'static str, v: f32) -> Result<(), CompressError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CompressError::BadParameter { loss, what, value: f64::from(v), hint: "give a finite value of at least 0" })
    }
}

impl DistillLoss {
    /// `SoftTarget` with a checked temperature.
    pub fn soft_target(temperature: f32) -> Result<Self, CompressError> {
        positive("SoftTarget", "temperature", temperature)?;
        Ok(Self::SoftTarget { temperature })
    }

    /// `DecoupledKd` with checked parameters and `normalize = false`.
    pub fn decoupled_kd(temperature: f32, alpha: f32, beta: f32) -> Result<Self, CompressError> {
        let loss = Self::DecoupledKd { temperature, alpha, beta, normalize: false };
        loss.validate()?;
        Ok(loss)
    }

    /// `Attention` with a checked power.
    pub fn attention(p: i32) -> Result<Self, CompressError> {
        let loss = Self::Attention { p };
        loss.validate()?;
        Ok(loss)
    }

    /// `ActivationBoundaries` with a checked margin.
    pub fn activation_boundaries(margin: f32) -> Result<Self, CompressError> {
        non_negative("ActivationBoundaries", "margin", margin)?;
        Ok(Self::ActivationBoundaries { margin })
    }

    /// The loss's name, as in fasterai.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SoftTarget { .. } => "SoftTarget",
            Self::Logits => "Logits",
            Self::Mutual => "Mutual",
            Self::DecoupledKd { .. } => "DecoupledKD",
            Self::Attention { .. } => "Attention",
            Self::FitNet => "FitNet",
            Self::Similarity => "Similarity",
            Self::ActivationBoundaries { .. } => "ActivationBoundaries",
        }
    }

    /// Whether the loss compares feature maps ([`DistillLoss::feature_loss`]) rather than logits.
    pub fn is_feature_loss(&self) -> bool {
        matches!(self, Self::Attention { .. } | Self::FitNet | Self::Similarity | Self::ActivationBoundaries { .. })
    }

    /// Whether the loss needs class targets.
    pub fn needs_targets(&self) -> bool {
        matches!(self, Self::DecoupledKd { .. })
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), CompressError> {
        let name = self.name();
        match *self {
            Self::SoftTarget { temperature } => positive(name, "temperature", temperature),
            Self::DecoupledKd { temperature, alpha, beta, .. } => {
                positive(name, "temperature", temperature)?;
                non_negative(name, "alpha", alpha)?;
                non_negative(name, "beta", beta)
            }
            Self::Attention { p } if p < 1 => Err(CompressError::BadParameter {
                loss: name,
                what: "p",
                value: f64::from(p),
                hint: "give a power of at least 1",
            }),
            Self::ActivationBoundaries { margin } => non_negative(name, "margin", margin),
            _ => Ok(()),
        }
    }

    /// The loss between student logits (on a tape) and teacher logits (without one).
    /// `targets` (one class index per sample) is required by `DecoupledKd` and ignored otherwise.
    pub fn loss(
        &self,
        student: Logits<Traced>,
        teacher: &Logits,
        targets: Option<&[usize]>,
    ) -> Result<Loss, CompressError> {
        self.validate()?;
        let (b, c) = *student.shape();
        if (b, c) != *teacher.shape() || b == 0 || c == 0 {
            let (tb, tc) = *teacher.shape();
            return Err(CompressError::ShapeMismatch {
                loss: self.name(),
                what: "logits".into(),
                student: vec![b, c],
                teacher: vec![tb, tc],
                hint: "the teacher must predict the same classes for the same, non-empty batch",
            });
        }
        match *self {
            Self::SoftTarget { temperature } => soft_target(student, teacher, temperature),
            Self::Mutual => soft_target(student, teacher, 1.0),
            Self::Logits => Ok(student.try_sub(constant(teacher))?.try_square()?.try_mean()?),
            Self::DecoupledKd { temperature, alpha, beta, normalize } => {
                let targets = check_targets(self.name(), targets, b, c)?;
                decoupled_kd(student, teacher, targets, temperature, alpha, beta, normalize)
            }
            _ => Err(CompressError::WrongInputs {
                loss: self.name(),
                problem: "compares feature maps, not logits: call `feature_loss` with tapped activations",
            }),
        }
    }

    /// The loss between pairs of feature maps (student on a tape, teacher without), summed over pairs.
    pub fn feature_loss(
        &self,
        student: Vec<FeatureMap<Traced>>,
        teacher: &[FeatureMap],
    ) -> Result<Loss, CompressError> {
        self.validate()?;
        super::features::feature_loss(self, student, teacher)
    }
}

fn check_targets<'a>(
    loss: &'static str,
    targets: Option<&'a [usize]>,
    b: usize,
    c: usize,
) -> Result<&'a [usize], CompressError> {
    let targets = targets.ok_or_else(|| CompressError::BadTargets {
        loss,
        problem: "needs the class targets of the batch; pass them, or use SoftTarget for label-free distillation"
            .into(),
    })?;
    if targets.len() != b {
        return Err(CompressError::BadTargets {
            loss,
            problem: format!("got {} targets for a batch of {b}", targets.len()),
        });
    }
    if let Some(&bad) = targets.iter().find(|&&t| t >= c) {
        return Err(CompressError::BadTargets {
            loss,
            problem: format!("got target class {bad} but the logits have {c} classes"),
        });
    }
    Ok(targets)
}

/// A copy of a teacher tensor under a new id, so the backward pass, which writes a gradient for
/// both operands of a binary op, never allocates one for the teacher's own tensor.
pub(super) fn constant<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Tensor<S, f32, Cpu> {
    t.device().tensor_from_vec(t.as_vec(), *t.shape())
}

/// Row-wise softmax of `z + bias` in f64, one row of `c` values at a time.
pub(super) fn softmax_rows(z: &[f32], bias: &[f32], c: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(z.len());
    for (row, brow) in z.chunks(c).zip(bias.chunks(c)) {
        let v: Vec<f64> = row.iter().zip(brow).map(|(&x, &b)| f64::from(x) + f64::from(b)).collect();
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = v.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        out.extend(e.iter().map(|x| x / sum));
    }
    out
}

/// `ln t` with `ln 0` read as 0: the term `t·(ln t − ln q)` of a zero target is 0, torch's `kl_div`
/// convention.
fn ln_or_zero(t: &[f64]) -> Vec<f32> {
    t.iter().map(|&x| if x > 0.0 { x.ln() as f32 } else { 0.0 }).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `KL_batchmean(log_softmax(z) ‖ t) = Σ t·(ln t − log_softmax(z)) / batch`, `t` a constant. The gap
/// is taken element by element, so two close distributions give a small loss without cancellation.
fn kl_batchmean(z: Logits<Traced>, t: &[f64]) -> Result<Loss, CompressError> {
    let (b, c) = *z.shape();
    let dev = z.device().clone();
    let gap = z.try_log_softmax::<Axis<1>>()?.try_negate()?.try_add(dev.tensor_from_vec(ln_or_zero(t), (b, c)))?;
    Ok(gap.try_mul(dev.tensor_from_vec(to_f32(t), (b, c)))?.try_sum::<Rank0, _>()?.try_div(b as f32)?)
}

fn soft_target(student: Logits<Traced>, teacher: &Logits, temperature: f32) -> Result<Loss, CompressError> {
    let (_, c) = *student.shape();
    let q = teacher.as_vec();
    let t = softmax_rows(&q.iter().map(|x| x / temperature).collect::<Vec<_>>(), &vec![0.0; q.len()], c);
    let kl = kl_batchmean(student.try_div(temperature)?, &t)?;
    Ok(kl.try_mul(temperature * temperature)?)
}

/// The bias that removes the target class from a softmax: −1000 on the target (fasterai's NCKD), or,
/// with `normalize`, enough to put the target 200 below the row's maximum, so its probability is
/// exactly 0 in f32 and the softmax is the one over the C − 1 other classes.
fn target_bias(z: &[f32], targets: &[usize], c: usize, normalize: bool) -> Vec<f32> {
    let mut bias = vec![0.0f32; z.len()];
    for (i, (row, &y)) in z.chunks(c).zip(targets).enumerate() {
        bias[i * c + y] = if normalize {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            -(max - row[y]) - 200.0
        } else {
            -1000.0
        };
    }
    bias
}

fn decoupled_kd(
    student: Logits<Traced>,
    teacher: &Logits,
    targets: &[usize],
    temperature: f32,
    alpha: f32,
    beta: f32,
    normalize: bool,
) -> Result<Loss, CompressError> {
    let (b, c) = *student.shape();
    let dev = student.device().clone();
    let zt: Vec<f32> = teacher.as_vec().iter().map(|x| x / temperature).collect();
    let (z, tape) = student.try_div(temperature)?.split_tape();
    let zs = z.as_vec();

    // TCKD: KL between the binary distributions [p_target, 1 − p_target]; the student's clamped at 1e-7.
    let t_soft = softmax_rows(&zt, &vec![0.0; zt.len()], c);
    let tt: Vec<f64> = targets.iter().enumerate().map(|(i, &y)| t_soft[i * c + y]).collect();
    let to: Vec<f64> = tt.iter().map(|p| 1.0 - p).collect();
    let mut onehot = vec![0.0f32; b * c];
    targets.iter().enumerate().for_each(|(i, &y)| onehot[i * c + y] = 1.0);
    let onehot = dev.tensor_from_vec(onehot, (b, c));
    let p_target =
        z.clone().put_tape(tape).try_softmax::<Axis<1>>()?.try_mul(onehot)?.try_sum::<(usize,), Axis<1>>()?;
    let (p_target, tape) = p_target.split_tape();
    let p_other = p_target.retaped::<Traced>().try_negate()?.try_add(1.0)?;
    let ln_target = p_target.put_tape(tape).try_clamp(1e-7, f32::MAX)?.try_ln()?;
    let ln_other = p_other.try_clamp(1e-7, f32::MAX)?.try_ln()?;
    // Σ over the batch of tt·(ln tt − ln ps) + to·(ln to − ln (1 − ps)).
    let binary_term = |ln_q: Tensor<(usize,), f32, Cpu, Traced>, t: &[f64]| -> Result<Loss, CompressError> {
        let gap = ln_q.try_negate()?.try_add(dev.tensor_from_vec(ln_or_zero(t), (b,)))?;
        Ok(gap.try_mul(dev.tensor_from_vec(to_f32(t), (b,)))?.try_sum::<Rank0, _>()?)
    };
    let tckd = binary_term(ln_target, &tt)?.try_add(binary_term(ln_other, &to)?)?.try_div(b as f32)?;

    // NCKD: KL of the softmaxes with the target class removed.
    let student_bias = target_bias(&zs, targets, c, normalize);
    let teacher_bias = target_bias(&zt, targets, c, normalize);
    let t_nt = softmax_rows(&zt, &teacher_bias, c);
    let z_nt = z.retaped::<Traced>().try_add(dev.tensor_from_vec(student_bias, (b, c)))?;
    let nckd = kl_batchmean(z_nt, &t_nt)?;

    let t2 = temperature * temperature;
    Ok(tckd.try_mul(alpha * t2)?.try_add(nckd.try_mul(beta * t2)?)?)
}

#[cfg(test)]
#[path = "losses_tests.rs"]
mod tests;
