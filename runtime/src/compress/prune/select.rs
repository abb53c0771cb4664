//! Copying kept channels: the slice-level selection and its typed wrappers on dfdx tensors.
//!
//! Every tensor a pruned channel touches is one layout, `outer × groups × group_len`, from which
//! whole groups are kept:
//!
//! | what | outer | groups | group_len |
//! |---|---|---|---|
//! | conv output filters (weight rows) | 1 | `O` | `I·K·K` |
//! | bias, BatchNorm entries | 1 | `O` | 1 |
//! | next conv's input channels | `O'` | `I` | `K·K` |
//! | first Linear after a Flatten (input columns) | `O'` | `C` | `H·W` |
//! | Linear outputs / inputs | 1 / `O'` | `O` / `I` | `I` / 1 |
//!
//! So [`select_groups`] does all the copying, and the typed wrappers only fix the layout and let
//! rustc check that the new tensor has the width of the new layer.

use dfdx::prelude::{Const, Cpu, Rank1, Rank2, Rank4, Tensor, TensorFromVec};

use crate::compress::PruneError;
use crate::nn::{BatchNorm1D, BatchNorm2D};

/// A flat tensor seen as `outer × count × len`: `count` channels, each owning `len` consecutive
/// values, repeated `outer` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups {
    /// How many times the channel axis repeats (the leading dimension).
    pub outer: usize,
    /// Number of channels (the original width).
    pub count: usize,
    /// Values each channel owns in one repetition.
    pub len: usize,
}

/// Checks that `kept` can select from `width` channels: not empty, strictly increasing (sorted and
/// unique, so coupled layers keep the same order), every index below `width`.
///
/// ```
/// use fasterai_runtime::compress::prune::check_kept;
/// assert!(check_kept("conv1", &[0, 2, 5], 6).is_ok());
/// assert!(check_kept("conv1", &[2, 0], 6).is_err()); // not sorted
/// assert!(check_kept("conv1", &[1, 6], 6).is_err()); // out of range
/// ```
pub fn check_kept(layer: &str, kept: &[usize], width: usize) -> Result<(), PruneError> {
    if kept.is_empty() {
        return Err(PruneError::NothingKept { layer: layer.to_string() });
    }
    for (position, pair) in kept.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(PruneError::NotIncreasing {
                layer: layer.to_string(),
                position: position + 1,
                previous: pair[0],
                index: pair[1],
            });
        }
    }
    match kept.iter().find(|&&k| k >= width) {
        Some(&index) => Err(PruneError::OutOfRange { layer: layer.to_string(), index, width }),
        None => Ok(()),
    }
}

/// Keeps the channels `kept` of `data` laid out as `groups`; the result is
/// `outer × kept.len() × len`. `what` names the tensor in errors ("weight", "bias", ...).
///
/// ```
/// use fasterai_runtime::compress::prune::{select_groups, Groups};
/// // Two rows of three channels with two values each; keep channels 0 and 2.
/// let data = [0., 1., 10., 11., 20., 21., 100., 101., 110., 111., 120., 121.];
/// let kept = select_groups("fc1", "weight", &data, Groups { outer: 2, count: 3, len: 2 }, &[0, 2]).unwrap();
/// assert_eq!(kept, vec![0., 1., 20., 21., 100., 101., 120., 121.]);
/// ```
pub fn select_groups(
    layer: &str,
    what: &'static str,
    data: &[f32],
    groups: Groups,
    kept: &[usize],
) -> Result<Vec<f32>, PruneError> {
    let expected = groups.outer * groups.count * groups.len;
    if data.len() != expected {
        return Err(PruneError::Length { layer: layer.to_string(), what, expected, got: data.len() });
    }
    check_kept(layer, kept, groups.count)?;
    let mut out = Vec::with_capacity(groups.outer * kept.len() * groups.len);
    for block in data.chunks_exact(groups.count * groups.len) {
        for &k in kept {
            out.extend_from_slice(&block[k * groups.len..(k + 1) * groups.len]);
        }
    }
    Ok(out)
}

fn check_count(layer: &str, kept: &[usize], new_width: usize) -> Result<(), PruneError> {
    if kept.len() == new_width {
        Ok(())
    } else {
        Err(PruneError::KeptCount { layer: layer.to_string(), expected: new_width, got: kept.len() })
    }
}

/// Keeps the entries `kept` of a per-channel vector (a bias, a BatchNorm statistic): `O` → `O2`.
///
/// ```
/// use fasterai_runtime::compress::prune::select_vector;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let bias = dev.tensor([1.0f32, 2.0, 3.0, 4.0]);
/// let kept: Tensor<Rank1<2>, f32, Cpu> = select_vector("conv1", &bias, &[1, 3])?;
/// assert_eq!(kept.array(), [2.0, 4.0]);
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
pub fn select_vector<const O: usize, const O2: usize>(
    layer: &str,
    vector: &Tensor<Rank1<O>, f32, Cpu>,
    kept: &[usize],
) -> Result<Tensor<Rank1<O2>, f32, Cpu>, PruneError> {
    check_count(layer, kept, O2)?;
    let v = select_groups(layer, "vector", &vector.as_vec(), Groups { outer: 1, count: O, len: 1 }, kept)?;
    Ok(vector.device().tensor_from_vec(v, (Const::<O2>,)))
}

/// Keeps the output filters `kept` of a conv weight `(O, I, K, K)`: `O` → `O2`.
pub fn select_conv_weight_out<const I: usize, const O: usize, const O2: usize, const K: usize>(
    layer: &str,
    weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    kept: &[usize],
) -> Result<Tensor<Rank4<O2, I, K, K>, f32, Cpu>, PruneError> {
    check_count(layer, kept, O2)?;
    let groups = Groups { outer: 1, count: O, len: I * K * K };
    let w = select_groups(layer, "weight", &weight.as_vec(), groups, kept)?;
    Ok(weight.device().tensor_from_vec(w, (Const::<O2>, Const::<I>, Const::<K>, Const::<K>)))
}

/// Keeps the output filters `kept` of a conv (weight rows and bias entries): `O` → `O2`. Stride
/// and padding do not change.
///
/// ```
/// use fasterai_runtime::compress::prune::select_conv_out;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let weight = dev.sample_normal::<Rank4<8, 3, 3, 3>>();
/// let bias = dev.sample_normal::<Rank1<8>>();
/// let (w, b) = select_conv_out::<3, 8, 2, 3>("conv1", &weight, &bias, &[1, 6])?;
/// assert_eq!(b.array(), [bias.array()[1], bias.array()[6]]);
/// assert_eq!(w.array()[1], weight.array()[6]);
/// // The count must match the new width, and errors name the layer:
/// let e = select_conv_out::<3, 8, 3, 3>("conv1", &weight, &bias, &[1, 6]).unwrap_err();
/// assert!(e.to_string().contains("`conv1` keeps 2 indices"));
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn select_conv_out<const I: usize, const O: usize, const O2: usize, const K: usize>(
    layer: &str,
    weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    bias: &Tensor<Rank1<O>, f32, Cpu>,
    kept: &[usize],
) -> Result<(Tensor<Rank4<O2, I, K, K>, f32, Cpu>, Tensor<Rank1<O2>, f32, Cpu>), PruneError> {
    Ok((select_conv_weight_out(layer, weight, kept)?, select_vector(layer, bias, kept)?))
}

/// Keeps the input channels `kept` of a conv weight `(O, I, K, K)`: `I` → `I2` (the consumer of a
/// pruned conv).
///
/// ```
/// use fasterai_runtime::compress::prune::select_conv_in;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let weight = dev.sample_normal::<Rank4<4, 6, 3, 3>>();
/// let w = select_conv_in::<6, 3, 4, 3>("conv2", &weight, &[0, 2, 5])?;
/// assert_eq!(w.array()[3][2], weight.array()[3][5]);
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
pub fn select_conv_in<const I: usize, const I2: usize, const O: usize, const K: usize>(
    layer: &str,
    weight: &Tensor<Rank4<O, I, K, K>, f32, Cpu>,
    kept: &[usize],
) -> Result<Tensor<Rank4<O, I2, K, K>, f32, Cpu>, PruneError> {
    check_count(layer, kept, I2)?;
    let groups = Groups { outer: O, count: I, len: K * K };
    let w = select_groups(layer, "weight", &weight.as_vec(), groups, kept)?;
    Ok(weight.device().tensor_from_vec(w, (Const::<O>, Const::<I2>, Const::<K>, Const::<K>)))
}

/// Keeps the channels `kept` of our [`BatchNorm2D`] (γ, β, running mean and variance); epsilon
/// and momentum are copied.
///
/// ```
/// use fasterai_runtime::compress::prune::select_batchnorm2d;
/// use fasterai_runtime::nn::BatchNorm2D;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// let bn = dev.build_module::<BatchNorm2D<8>, f32>();
/// let small: BatchNorm2D<2> = select_batchnorm2d("bn1", &bn, &[3, 4])?;
/// assert_eq!(small.epsilon, bn.epsilon);
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
pub fn select_batchnorm2d<const C: usize, const C2: usize>(
    layer: &str,
    bn: &BatchNorm2D<C>,
    kept: &[usize],
) -> Result<BatchNorm2D<C2>, PruneError> {
    Ok(BatchNorm2D {
        weight: select_vector(layer, &bn.weight, kept)?,
        bias: select_vector(layer, &bn.bias, kept)?,
        running_mean: select_vector(layer, &bn.running_mean, kept)?,
        running_var: select_vector(layer, &bn.running_var, kept)?,
        epsilon: bn.epsilon,
        momentum: bn.momentum,
    })
}

/// Keeps the channels `kept` of dfdx's [`BatchNorm1D`] (after a pruned Linear).
pub fn select_batchnorm1d<const C: usize, const C2: usize>(
    layer: &str,
    bn: &BatchNorm1D<C>,
    kept: &[usize],
) -> Result<BatchNorm1D<C2>, PruneError> {
    Ok(BatchNorm1D {
        scale: select_vector(layer, &bn.scale, kept)?,
        bias: select_vector(layer, &bn.bias, kept)?,
        running_mean: select_vector(layer, &bn.running_mean, kept)?,
        running_var: select_vector(layer, &bn.running_var, kept)?,
        epsilon: bn.epsilon,
        momentum: bn.momentum,
    })
}

/// Keeps the outputs `kept` of a Linear (weight rows `(O, I)` and bias): `O` → `O2`.
#[allow(clippy::type_complexity)]
pub fn select_linear_out<const I: usize, const O: usize, const O2: usize>(
    layer: &str,
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
    bias: &Tensor<Rank1<O>, f32, Cpu>,
    kept: &[usize],
) -> Result<(Tensor<Rank2<O2, I>, f32, Cpu>, Tensor<Rank1<O2>, f32, Cpu>), PruneError> {
    check_count(layer, kept, O2)?;
    let w = select_groups(layer, "weight", &weight.as_vec(), Groups { outer: 1, count: O, len: I }, kept)?;
    Ok((weight.device().tensor_from_vec(w, (Const::<O2>, Const::<I>)), select_vector(layer, bias, kept)?))
}

/// Keeps the input columns of a Linear weight `(O, I)` that belong to the kept channels, each
/// channel owning `group_len` consecutive columns: `group_len = H·W` for the first Linear after a
/// Flatten of `(C, H, W)` (channel `c` owns columns `c·H·W .. (c+1)·H·W`), 1 after another Linear.
/// `I` → `I2 = kept.len() · group_len`.
///
/// ```
/// use fasterai_runtime::compress::prune::select_linear_in;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev: Cpu = Default::default();
/// // A Flatten of (3 channels, 2×2) feeds 12 columns; keep channels 0 and 2.
/// let weight = dev.tensor_from_vec((0..24).map(|v| v as f32).collect(), (Const::<2>, Const::<12>));
/// let w: Tensor<Rank2<2, 8>, f32, Cpu> = select_linear_in("fc1", &weight, 4, &[0, 2])?;
/// assert_eq!(w.array()[0], [0., 1., 2., 3., 8., 9., 10., 11.]);
/// # Ok::<(), fasterai_runtime::compress::PruneError>(())
/// ```
pub fn select_linear_in<const I: usize, const I2: usize, const O: usize>(
    layer: &str,
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
    group_len: usize,
    kept: &[usize],
) -> Result<Tensor<Rank2<O, I2>, f32, Cpu>, PruneError> {
    let grouping = |inputs| PruneError::Grouping { layer: layer.to_string(), inputs, group_len };
    if group_len == 0 || !I.is_multiple_of(group_len) {
        return Err(grouping(I));
    }
    if !I2.is_multiple_of(group_len) {
        return Err(grouping(I2));
    }
    check_count(layer, kept, I2 / group_len)?;
    let groups = Groups { outer: O, count: I / group_len, len: group_len };
    let w = select_groups(layer, "weight", &weight.as_vec(), groups, kept)?;
    Ok(weight.device().tensor_from_vec(w, (Const::<O>, Const::<I2>)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::BatchNorm1D;
    use dfdx::prelude::*;

    #[test]
    fn kept_checks_report_the_first_violation() {
        let cases: [(&[usize], usize, &str); 5] = [
            (&[], 4, "keep no channel"),
            (&[0, 2, 2], 4, "position 2 holds 2 after 2"),
            (&[3, 1], 4, "position 1 holds 1 after 3"),
            (&[0, 4], 4, "kept index 4 is out of range for width 4"),
            (&[9], 0, "out of range for width 0"),
        ];
        for (kept, width, needle) in cases {
            let message = check_kept("conv3", kept, width).unwrap_err().to_string();
            assert!(message.contains("`conv3`") && message.contains(needle), "{message}");
        }
        assert!(check_kept("conv3", &[0, 1, 3], 4).is_ok());
    }

    #[test]
    fn select_groups_covers_every_layout() {
        // Rows: 3 filters of 2 values.
        let rows = [1., 2., 3., 4., 5., 6.];
        let r = select_groups("l", "weight", &rows, Groups { outer: 1, count: 3, len: 2 }, &[2]).unwrap();
        assert_eq!(r, vec![5., 6.]);
        // Columns: 2 rows × 3 single-value channels.
        let r = select_groups("l", "weight", &rows, Groups { outer: 2, count: 3, len: 1 }, &[0, 2]).unwrap();
        assert_eq!(r, vec![1., 3., 4., 6.]);
        let e = select_groups("l", "weight", &rows[..5], Groups { outer: 2, count: 3, len: 1 }, &[0])
            .unwrap_err();
        assert!(e.to_string().contains("weight has 5 values, expected 6"), "{e}");
    }

    #[test]
    fn typed_wrappers_copy_the_right_entries() {
        let dev: Cpu = Default::default();
        let conv = dev.sample_normal::<Rank4<5, 4, 3, 3>>();
        let bias = dev.sample_normal::<Rank1<5>>();
        let (w, b) = select_conv_out::<4, 5, 2, 3>("c", &conv, &bias, &[1, 4]).unwrap();
        let (src, wa) = (conv.array(), w.array());
        assert_eq!((wa[0], wa[1]), (src[1], src[4]));
        assert_eq!(b.array(), [bias.array()[1], bias.array()[4]]);

        let w = select_conv_in::<4, 2, 5, 3>("c", &conv, &[0, 3]).unwrap().array();
        for o in 0..5 {
            assert_eq!((w[o][0], w[o][1]), (src[o][0], src[o][3]));
        }

        let fc = dev.sample_normal::<Rank2<3, 6>>();
        let fb = dev.sample_normal::<Rank1<3>>();
        let (w, b) = select_linear_out::<6, 3, 1>("fc", &fc, &fb, &[2]).unwrap();
        assert_eq!((w.array()[0], b.array()[0]), (fc.array()[2], fb.array()[2]));
        let w = select_linear_in::<6, 2, 3>("fc", &fc, 1, &[1, 5]).unwrap().array();
        assert_eq!(w[2], [fc.array()[2][1], fc.array()[2][5]]);

        let mut bn1: BatchNorm1D<3> = BuildModule::build(&dev);
        bn1.scale = dev.tensor([1.0, 2.0, 3.0]);
        bn1.running_var = dev.tensor([4.0, 5.0, 6.0]);
        let small: BatchNorm1D<2> = select_batchnorm1d("bn", &bn1, &[0, 2]).unwrap();
        assert_eq!((small.scale.array(), small.running_var.array()), ([1.0, 3.0], [4.0, 6.0]));
    }

    #[test]
    fn typed_wrapper_errors_name_the_layer() {
        let dev: Cpu = Default::default();
        let conv = dev.sample_normal::<Rank4<4, 2, 1, 1>>();
        let bias = dev.sample_normal::<Rank1<4>>();
        let fc = dev.sample_normal::<Rank2<2, 12>>();
        let messages = [
            select_conv_out::<2, 4, 2, 1>("conv2", &conv, &bias, &[3, 1]).unwrap_err().to_string(),
            select_conv_out::<2, 4, 2, 1>("conv2", &conv, &bias, &[1, 4]).unwrap_err().to_string(),
            select_conv_out::<2, 4, 2, 1>("conv2", &conv, &bias, &[1]).unwrap_err().to_string(),
            select_conv_in::<2, 1, 4, 1>("conv2", &conv, &[2]).unwrap_err().to_string(),
            select_linear_in::<12, 8, 2>("conv2", &fc, 5, &[0]).unwrap_err().to_string(),
            select_linear_in::<12, 6, 2>("conv2", &fc, 4, &[0]).unwrap_err().to_string(),
            select_linear_in::<12, 8, 2>("conv2", &fc, 0, &[0]).unwrap_err().to_string(),
            select_linear_in::<12, 8, 2>("conv2", &fc, 4, &[0]).unwrap_err().to_string(),
        ];
        let needles = [
            "position 1 holds 1 after 3",
            "kept index 4 is out of range for width 4",
            "keeps 1 indices but its pruned type has width 2",
            "kept index 2 is out of range for width 2",
            "12 inputs cannot be grouped by 5",
            "6 inputs cannot be grouped by 4",
            "cannot be grouped by 0",
            "keeps 1 indices but its pruned type has width 2",
        ];
        for (message, needle) in messages.iter().zip(needles) {
            assert!(message.contains("`conv2`") && message.contains(needle), "{message} (wanted {needle})");
        }
    }
}
