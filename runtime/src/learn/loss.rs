//! Cross-entropy from class labels.

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::{Const, Cpu, Rank0, Tape, Tensor, TensorFromVec};

use super::LearnError;

/// One-hot rows for `labels`, `(labels.len(), K)`; an error if a label is not below `K`.
///
/// ```
/// use fasterai_runtime::learn::one_hot;
/// use fasterai_runtime::dfdx::prelude::*;
/// let t = one_hot::<3>(&Cpu::default(), &[2, 0]).unwrap();
/// assert_eq!(t.as_vec(), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// assert!(one_hot::<3>(&Cpu::default(), &[3]).is_err());
/// ```
pub fn one_hot<const K: usize>(dev: &Cpu, labels: &[usize]) -> Result<Tensor<(usize, Const<K>), f32, Cpu>, LearnError> {
    let mut values = vec![0.0f32; labels.len() * K];
    for (row, &label) in labels.iter().enumerate() {
        if label >= K {
            return Err(LearnError::LabelOutOfRange { label, outputs: K });
        }
        values[row * K + label] = 1.0;
    }
    Ok(dev.try_tensor_from_vec(values, (labels.len(), Const))?)
}

/// Mean cross-entropy of `logits` against class `labels`, on whatever tape the logits carry
/// (dfdx's `cross_entropy_with_logits_loss` with one-hot targets).
pub fn cross_entropy<const K: usize, T: Tape<f32, Cpu>>(
    logits: Tensor<(usize, Const<K>), f32, Cpu, T>,
    labels: &[usize],
) -> Result<Tensor<Rank0, f32, Cpu, T>, LearnError> {
    let targets = one_hot::<K>(logits.device(), labels)?;
    Ok(cross_entropy_with_logits_loss(logits, targets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    /// Reference: mean over rows of `logsumexp(row) - row[label]`.
    #[test]
    fn matches_the_log_softmax_formula() {
        let dev = Cpu::default();
        let rows = [[1.0f32, 2.0, 0.5], [-1.0, 0.0, 3.0]];
        let labels = [1usize, 0];
        let expected: f32 =
            rows.iter().zip(labels).map(|(r, l)| r.iter().map(|v| v.exp()).sum::<f32>().ln() - r[l]).sum::<f32>() / 2.0;
        let logits = dev.tensor_from_vec(rows.concat(), (2usize, Const::<3>));
        let loss = cross_entropy(logits, &labels).unwrap().array();
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }
}
