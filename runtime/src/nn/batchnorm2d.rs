//! `BatchNorm2D`: batch normalisation of `(batch, C, H, W)` activations.

use dfdx::nn::modules::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::nn::ScalarOptions;
use dfdx::prelude::*;

use dfdx::tensor::CpuError;
use crate::ops::batchnorm2d::{batchnorm2d, BnParams, Mode};
#[cfg(test)]
use crate::ops::batchnorm2d::Nchw;

/// Batch normalisation over the channels of `(batch, C, H, W)` activations, as PyTorch's
/// `BatchNorm2d`: `y = (x - mean) / sqrt(var + epsilon) * weight + bias`.
///
/// With a gradient tape and [`ModuleMut`] (training) it normalises with the batch statistics and
/// updates `running_mean`/`running_var` (`momentum` weighs the new batch; the running variance is
/// unbiased). Without a tape, or through [`Module`], it uses the running statistics.
/// Tensor names are PyTorch's: `weight`, `bias`, `running_mean`, `running_var`. Its error type is
/// dfdx's `CpuError`, like dfdx's layers, so it composes with them in tuples.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::dfdx::prelude::Const;
/// let dev: Cpu = Default::default();
/// let bn = dev.build_module::<BatchNorm2D<3>, f32>();
/// let x: Tensor<(usize, Const<3>, usize, usize), f32, Cpu> = dev.ones_like(&(2, Const::<3>, 4, 4));
/// let y = bn.forward(x);
/// assert_eq!(y.shape().2, 4);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm2D<const C: usize, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// Per-channel scale γ (initialised to 1).
    pub weight: Tensor<Rank1<C>, E, D>,
    /// Per-channel shift β (initialised to 0).
    pub bias: Tensor<Rank1<C>, E, D>,
    /// Running mean (initialised to 0), used in evaluation.
    pub running_mean: Tensor<Rank1<C>, E, D>,
    /// Running variance (initialised to 1), used in evaluation.
    pub running_var: Tensor<Rank1<C>, E, D>,
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub epsilon: f64,
    /// Weight of a new batch in the running statistics (PyTorch: 0.1).
    pub momentum: f64,
}

impl<const C: usize, E: Dtype, D: Device<E>> TensorCollection<E, D> for BatchNorm2D<C, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = BatchNorm2D<C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, TensorOptions::reset_to_ones()),
                Self::tensor("bias", |s| &s.bias, |s| &mut s.bias, TensorOptions::reset_to_zeros()),
                Self::tensor(
                    "running_mean",
                    |s| &s.running_mean,
                    |s| &mut s.running_mean,
                    TensorOptions::detached(|t| t.try_fill_with_zeros()),
                ),
                Self::tensor(
                    "running_var",
                    |s| &s.running_var,
                    |s| &mut s.running_var,
                    TensorOptions::detached(|t| t.try_fill_with_ones()),
                ),
                Self::scalar("epsilon", |s| &s.epsilon, |s| &mut s.epsilon, ScalarOptions::from_default(1e-5)),
                Self::scalar("momentum", |s| &s.momentum, |s| &mut s.momentum, ScalarOptions::from_default(0.1)),
            ),
            |(weight, bias, running_mean, running_var, epsilon, momentum)| BatchNorm2D {
                weight,
                bias,
                running_mean,
                running_var,
                epsilon,
                momentum,
            },
        )
    }
}

impl<const C: usize> BuildOnDevice<Cpu, f32> for BatchNorm2D<C, f32, Cpu> {
    type Built = Self;
}

impl<const C: usize> BatchNorm2D<C, f32, Cpu> {
    fn run<B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>,
        running: Option<(&mut Tensor<Rank1<C>, f32, Cpu>, &mut Tensor<Rank1<C>, f32, Cpu>)>,
    ) -> Result<Tensor<(B, Const<C>, H, W), f32, Cpu, T>, CpuError> {
        let (mut rm, mut rv) = (self.running_mean.clone(), self.running_var.clone());
        let (mode, running_mean, running_var) = match running {
            Some((m, v)) => (Mode::Train, m, v),
            None => (Mode::Eval, &mut rm, &mut rv),
        };
        let params = BnParams {
            weight: &self.weight,
            bias: &self.bias,
            running_mean,
            running_var,
            epsilon: self.epsilon,
            momentum: self.momentum,
        };
        batchnorm2d(x, params, mode)
    }
}

/// Evaluation: normalises with the running statistics (gradients still flow if `x` has a tape).
impl<const C: usize, B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> Module<Tensor<(B, Const<C>, H, W), f32, Cpu, T>>
    for BatchNorm2D<C, f32, Cpu>
{
    type Output = Tensor<(B, Const<C>, H, W), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        self.run(x, None)
    }
}

/// Training when `x` carries a tape (batch statistics, running statistics updated); evaluation otherwise.
impl<const C: usize, B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> ModuleMut<Tensor<(B, Const<C>, H, W), f32, Cpu, T>>
    for BatchNorm2D<C, f32, Cpu>
{
    type Output = Tensor<(B, Const<C>, H, W), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward_mut(&mut self, x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        if T::OWNS_TAPE {
            let (mut rm, mut rv) = (self.running_mean.clone(), self.running_var.clone());
            let y = self.run(x, Some((&mut rm, &mut rv)))?;
            self.running_mean = rm;
            self.running_var = rv;
            Ok(y)
        } else {
            self.run(x, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_pytorch_defaults_and_counts_two_params_per_channel() {
        let dev: Cpu = Default::default();
        let bn = dev.build_module::<BatchNorm2D<4>, f32>();
        assert_eq!(bn.weight.array(), [1.0; 4]);
        assert_eq!(bn.bias.array(), [0.0; 4]);
        assert_eq!(bn.running_var.array(), [1.0; 4]);
        assert_eq!((bn.epsilon, bn.momentum), (1e-5, 0.1));
        assert_eq!(bn.num_trainable_params(), 8);
    }

    #[test]
    fn training_forward_updates_running_stats_and_eval_does_not() {
        let dev: Cpu = Default::default();
        let mut bn = dev.build_module::<BatchNorm2D<2>, f32>();
        let x: Tensor<Nchw<2>, f32, Cpu> = dev.tensor_from_vec(vec![1.0, 3.0, 10.0, 10.0], (1, Const::<2>, 1, 2));
        let _ = bn.forward_mut(x.clone());
        assert_eq!(bn.running_mean.array(), [0.0, 0.0], "no tape: evaluation");
        let y = bn.forward_mut(x.clone().leaky_trace());
        assert_eq!(bn.running_mean.array(), [0.2, 1.0]);
        // Channel 0: mean 2, biased var 1 -> normalised to -1, +1.
        let y = y.as_vec();
        assert!((y[0] + 1.0).abs() < 1e-4 && (y[1] - 1.0).abs() < 1e-4, "{y:?}");
    }

    #[test]
    fn safetensors_keys_follow_pytorch() {
        let dev: Cpu = Default::default();
        let bn = dev.build_module::<BatchNorm2D<2>, f32>();
        let dir = std::env::temp_dir().join(format!("fasterai-bn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bn.safetensors");
        bn.save_safetensors(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<_> = st.names().into_iter().cloned().collect();
        names.sort();
        assert!(names.starts_with(&["bias".to_string(), "epsilon".to_string()]), "{names:?}");
        assert!(names.contains(&"running_mean".to_string()) && names.contains(&"weight".to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
