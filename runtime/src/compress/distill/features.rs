//! The feature-map distillation losses: Attention, FitNet, Similarity, ActivationBoundaries.
//!
//! Each compares pairs of `(batch, C, H, W)` activations, the student's on a tape and the teacher's
//! without, and sums the per-pair losses (fasterai's convention).
//!
//! A student activation tapped in the middle of a forward pass takes part in two graphs: the rest of
//! the forward and the feature loss. Tap it as `let (h, tape) = h.split_tape(); taps.push(h.retaped());
//! let h = h.put_tape(tape);` and add the feature loss to the task loss: dfdx merges the tapes, orders
//! the backward operations by creation, and the feature loss's gradient reaches every weight before the
//! tap (see the test `a_tapped_activation_passes_its_gradient_back_through_the_forward_tape`).
//!
//! ```
//! use dfdx::prelude::*;
//! use fasterai_runtime::compress::distill::DistillLoss;
//! let dev: Cpu = Default::default();
//! let s = dev.tensor_from_vec(vec![1.0f32, 2.0, 3.0, 4.0], (1, 1, 2, 2));
//! let t = dev.tensor_from_vec(vec![1.0f32, 2.0, 3.0, 5.0], (1, 1, 2, 2));
//! let loss = DistillLoss::FitNet.feature_loss(vec![s.leaky_trace()], &[t]).unwrap();
//! assert_eq!(loss.array(), 0.25); // one differing value out of four, squared difference 1
//! ```

use dfdx::prelude::*;

use super::losses::{constant, DistillLoss, FeatureMap, Loss, Traced};
use crate::compress::CompressError;

/// Sum over the pairs of `loss` on each (student, teacher) pair.
pub(super) fn feature_loss(
    loss: &DistillLoss,
    student: Vec<FeatureMap<Traced>>,
    teacher: &[FeatureMap],
) -> Result<Loss, CompressError> {
    let name = loss.name();
    if !loss.is_feature_loss() {
        return Err(CompressError::WrongInputs {
            loss: name,
            problem: "compares logits, not feature maps: call `loss` with the two models' outputs",
        });
    }
    if student.is_empty() || student.len() != teacher.len() {
        return Err(CompressError::WrongInputs {
            loss: name,
            problem: "needs one or more (student, teacher) feature-map pairs, as many of each",
        });
    }
    let mut total: Option<Loss> = None;
    for (i, (s, t)) in student.into_iter().zip(teacher).enumerate() {
        check_pair(loss, i, s.shape(), t.shape())?;
        let term = match *loss {
            DistillLoss::Attention { p } => attention(s, t, p)?,
            DistillLoss::FitNet => s.try_sub(constant(t))?.try_square()?.try_mean()?,
            DistillLoss::Similarity => similarity(s, t)?,
            DistillLoss::ActivationBoundaries { margin } => activation_boundaries(s, t, margin)?,
            _ => unreachable!("checked by is_feature_loss above"),
        };
        total = Some(match total {
            None => term,
            Some(acc) => acc.try_add(term)?,
        });
    }
    total.ok_or(CompressError::WrongInputs { loss: name, problem: "got no feature-map pair" })
}

type Dims = (usize, usize, usize, usize);

/// The shapes each loss needs: FitNet and ActivationBoundaries equal shapes; Attention equal batch and
/// spatial size (channels may differ); Similarity an equal batch.
fn check_pair(loss: &DistillLoss, i: usize, s: &Dims, t: &Dims) -> Result<(), CompressError> {
    let (ok, hint) = match loss {
        DistillLoss::FitNet | DistillLoss::ActivationBoundaries { .. } => (s == t, "pair layers of identical shapes"),
        DistillLoss::Attention { .. } => {
            (s.0 == t.0 && s.2 == t.2 && s.3 == t.3, "pair layers of the same spatial size (channels may differ)")
        }
        _ => (s.0 == t.0, "the student and the teacher must see the same batch"),
    };
    let empty = s.0 * s.1 * s.2 * s.3 == 0;
    if ok && !empty {
        return Ok(());
    }
    Err(CompressError::ShapeMismatch {
        loss: loss.name(),
        what: format!("feature map {i}"),
        student: vec![s.0, s.1, s.2, s.3],
        teacher: vec![t.0, t.1, t.2, t.3],
        hint: if empty { "feature maps must not be empty" } else { hint },
    })
}

/// Smallest norm divided by (torch's `F.normalize` eps), applied to the squared norm as 1e-24.
const NORM_EPS_SQ: f64 = 1e-24;

/// Each row of `rows` (`(n, k)`) divided by `max(‖row‖₂, 1e-12)`, in f64, for the teacher side.
fn normalize_rows(rows: &[f32], k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.chunks(k) {
        let sq: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let norm = sq.max(NORM_EPS_SQ).sqrt();
        out.extend(row.iter().map(|&x| (f64::from(x) / norm) as f32));
    }
    out
}

/// The same on the tape: `x / sqrt(max(Σ x², 1e-24))` row-wise. Clamping the squared norm keeps the
/// gradient finite for an all-zero row.
fn normalize_rows_traced(
    x: Tensor<(usize, usize), f32, Cpu, Traced>,
) -> Result<Tensor<(usize, usize), f32, Cpu, Traced>, CompressError> {
    let shape = *x.shape();
    let (x, tape) = x.split_tape();
    let norm = x
        .retaped::<Traced>()
        .try_square()?
        .try_sum::<(usize,), Axis<1>>()?
        .try_clamp(NORM_EPS_SQ as f32, f32::MAX)?
        .try_sqrt()?
        .try_broadcast_like::<_, Axis<1>>(&shape)?;
    Ok(x.put_tape(tape).try_div(norm)?)
}

/// `mean_c(F^p)` flattened to `(batch, H·W)`, for the teacher.
fn attention_map(f: &[f32], (b, c, h, w): Dims, p: i32) -> Vec<f32> {
    let hw = h * w;
    let mut out = vec![0.0f32; b * hw];
    for bi in 0..b {
        for ci in 0..c {
            let plane = &f[(bi * c + ci) * hw..(bi * c + ci + 1) * hw];
            for (o, &x) in out[bi * hw..(bi + 1) * hw].iter_mut().zip(plane) {
                *o += x.powi(p) / c as f32;
            }
        }
    }
    out
}

fn attention(s: FeatureMap<Traced>, t: &FeatureMap, p: i32) -> Result<Loss, CompressError> {
    let (b, c, h, w) = *s.shape();
    let hw = h * w;
    let teacher = normalize_rows(&attention_map(&t.as_vec(), *t.shape(), p), hw);
    let teacher = s.device().tensor_from_vec(teacher, (b, hw));
    let a = s.try_powi(p)?.try_reshape_like(&(b, c, hw))?.try_mean::<(usize, usize), Axis<1>>()?;
    let a = normalize_rows_traced(a)?;
    Ok(a.try_sub(teacher)?.try_square()?.try_mean()?)
}

/// `G = F·Fᵀ` on the tape, as a custom op: dfdx's matmul cannot take the same tensor on both sides
/// (its backward borrows both operands' gradients at once). Backward: `dF = (dG + dGᵀ)·F`.
fn gram_traced(
    f: Tensor<(usize, usize), f32, Cpu, Traced>,
) -> Result<Tensor<(usize, usize), f32, Cpu, Traced>, CompressError> {
    let (f, mut tape) = f.split_tape();
    let (b, _) = *f.shape();
    let gram = f.clone().try_matmul(f.clone().try_permute::<(usize, usize), Axes2<1, 0>>()?)?;
    let (fg, gg) = (f.ghost(), gram.ghost());
    tape.add_backward_op(move |grads| {
        let dg = grads.get_or_alloc_mut(&gg)?.to_vec();
        let sym: Vec<f32> = (0..b * b).map(|k| dg[k] + dg[(k % b) * b + k / b]).collect();
        let df = f.device().tensor_from_vec(sym, (b, b)).try_matmul(f.clone())?.as_vec();
        let g_in: &mut [f32] = grads.get_or_alloc_mut(&fg)?;
        g_in.iter_mut().zip(df).for_each(|(g, d)| *g += d);
        Ok(())
    });
    Ok(gram.put_tape(tape))
}

fn similarity(s: FeatureMap<Traced>, t: &FeatureMap) -> Result<Loss, CompressError> {
    let (b, c, h, w) = *s.shape();
    let (_, tc, th, tw) = *t.shape();
    let t_flat = constant(t).try_reshape_like(&(b, tc * th * tw))?;
    let t_gram = t_flat.clone().try_matmul(t_flat.try_permute::<(usize, usize), Axes2<1, 0>>()?)?;
    let teacher = s.device().tensor_from_vec(normalize_rows(&t_gram.as_vec(), b), (b, b));
    let gram = gram_traced(s.try_reshape_like(&(b, c * h * w))?)?;
    Ok(normalize_rows_traced(gram)?.try_sub(teacher)?.try_square()?.try_mean()?)
}

/// `mean[(s + m)²·1(s > −m ∧ t ≤ 0) + (s − m)²·1(s ≤ m ∧ t > 0)]`. The two conditions exclude each
/// other (on the sign of t), so each element is `(s + shift)²·active` with constant shift and indicator.
fn activation_boundaries(s: FeatureMap<Traced>, t: &FeatureMap, margin: f32) -> Result<Loss, CompressError> {
    let shape = *s.shape();
    let (sv, tv) = (s.as_vec(), t.as_vec());
    let mut shift = vec![0.0f32; sv.len()];
    let mut active = vec![0.0f32; sv.len()];
    for (i, (&x, &y)) in sv.iter().zip(tv.iter()).enumerate() {
        if y <= 0.0 && x > -margin {
            (shift[i], active[i]) = (margin, 1.0);
        } else if y > 0.0 && x <= margin {
            (shift[i], active[i]) = (-margin, 1.0);
        }
    }
    let dev = s.device().clone();
    let shift = dev.tensor_from_vec(shift, shape);
    let active = dev.tensor_from_vec(active, shape);
    Ok(s.try_add(shift)?.try_square()?.try_mul(active)?.try_mean()?)
}
