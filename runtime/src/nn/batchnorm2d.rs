//! `BatchNorm2D`: batch normalisation of `(batch, C, H, W)` activations.

use dfdx::nn::modules::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::nn::ScalarOptions;
use dfdx::prelude::*;

use dfdx::tensor::CpuError;

use crate::ops::batch_norm2d::{self as op, Activation, BnParams, Images};
use crate::ops::NnError;
#[cfg(test)]
type Nchw<const C: usize> = (usize, Const<C>, usize, usize);

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
    /// The layer's tensors as the op borrows them.
    fn params(&mut self) -> BnParams<'_, C> {
        BnParams {
            weight: &self.weight,
            bias: &self.bias,
            running_mean: &mut self.running_mean,
            running_var: &mut self.running_var,
            epsilon: self.epsilon,
            momentum: self.momentum,
        }
    }

    /// Runs the op on any `(B, C, H, W)` shape: a view as `(usize, C, usize, usize)` and back.
    fn run<B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>>(
        &mut self,
        x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>,
        train: bool,
    ) -> Result<Tensor<(B, Const<C>, H, W), f32, Cpu, T>, CpuError> {
        let shape = *x.shape();
        let x = x.try_reshape_like(&(shape.0.size(), Const::<C>, shape.2.size(), shape.3.size()))?;
        let y = if train {
            op::batch_norm2d_train(x, self.params(), Activation::Identity)
        } else {
            op::batch_norm2d_eval(x, self.params(), Activation::Identity)
        };
        let y = y.map_err(|e| match e {
            NnError::Device(e) => e,
            // The op has no other failure on a contiguous input; keep dfdx's error type.
            _ => CpuError::WrongNumElements,
        })?;
        y.try_reshape_like(&shape)
    }
}

/// A derived model's training batch norm (+ ReLU), one fused pass: batch statistics, running
/// statistics updated, backward recorded on `x`'s tape.
///
/// Errors with [`NnError::BatchNormTooFewValues`] when a channel has fewer than two values.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::nn::{batch_norm2d_train, BatchNorm2D};
/// use fasterai_runtime::ops::batch_norm2d::Activation;
/// let dev = Cpu::default();
/// let mut bn: BatchNorm2D<2> = BuildModule::build(&dev);
/// let x = dev.tensor_from_vec(vec![1.0, 3.0, 0.0, 0.0, 5.0, 7.0, 2.0, 2.0], (2, Const::<2>, 1, 2));
/// let y = batch_norm2d_train(x.leaky_trace(), &mut bn, Activation::Relu)?;
/// assert!(y.as_vec().iter().all(|&v| v >= 0.0));
/// assert_eq!(bn.running_mean.as_vec(), vec![0.4, 0.1]); // 0.1 · batch mean (4, 1)
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn batch_norm2d_train<const C: usize, T: Tape<f32, Cpu>>(
    x: Images<C, T>,
    bn: &mut BatchNorm2D<C>,
    activation: Activation,
) -> Result<Images<C, T>, NnError> {
    let (batch, _, height, width) = *x.shape();
    let count = batch * height * width;
    if count < 2 {
        return Err(NnError::BatchNormTooFewValues { count });
    }
    op::batch_norm2d_train(x, bn.params(), activation)
}

/// A derived model's inference batch norm (+ ReLU) with the running statistics: one parallel pass.
///
/// ```
/// use fasterai_runtime::dfdx::prelude::*;
/// use fasterai_runtime::nn::{batch_norm2d_infer, BatchNorm2D};
/// use fasterai_runtime::ops::batch_norm2d::Activation;
/// let dev = Cpu::default();
/// let bn: BatchNorm2D<1> = BuildModule::build(&dev); // mean 0, var 1, scale 1, bias 0
/// let x = dev.tensor_from_vec(vec![-2.0, 3.0], (1, Const::<1>, 1, 2));
/// let y = batch_norm2d_infer(x, &bn, Activation::Relu)?.as_vec();
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 3.0).abs() < 1e-4);
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
pub fn batch_norm2d_infer<const C: usize>(
    x: Images<C, NoneTape>,
    bn: &BatchNorm2D<C>,
    activation: Activation,
) -> Result<Images<C, NoneTape>, NnError> {
    // The running statistics are only read: the op borrows copies of their handles.
    let mut bn = bn.clone();
    op::batch_norm2d_eval(x, bn.params(), activation)
}

/// Evaluation: normalises with the running statistics (gradients still flow if `x` has a tape).
impl<const C: usize, B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> Module<Tensor<(B, Const<C>, H, W), f32, Cpu, T>>
    for BatchNorm2D<C, f32, Cpu>
{
    type Output = Tensor<(B, Const<C>, H, W), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        // Evaluation only reads the running statistics: run on a handle copy.
        self.clone().run(x, false)
    }
}

/// Training when `x` carries a tape (batch statistics, running statistics updated); evaluation otherwise.
impl<const C: usize, B: Dim, H: Dim, W: Dim, T: Tape<f32, Cpu>> ModuleMut<Tensor<(B, Const<C>, H, W), f32, Cpu, T>>
    for BatchNorm2D<C, f32, Cpu>
{
    type Output = Tensor<(B, Const<C>, H, W), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward_mut(&mut self, x: Tensor<(B, Const<C>, H, W), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        self.run(x, T::OWNS_TAPE)
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

    #[test]
    fn the_fused_batch_norm_relu_keeps_nan_too() {
        use super::{batch_norm2d_infer, batch_norm2d_train};
        use crate::ops::batch_norm2d::Activation;
        let dev: Cpu = Default::default();
        let mut bn: BatchNorm2D<1> = BuildModule::build(&dev);
        let x = dev.tensor_from_vec(vec![-1.0, f32::NAN, 2.0, -3.0], (1, Const::<1>, 2, 2));
        let y = batch_norm2d_infer(x.clone(), &bn, Activation::Relu).unwrap().as_vec();
        assert!(y[0] == 0.0 && y[1].is_nan() && y[2] > 0.0 && y[3] == 0.0, "{y:?}");
        // In training the batch statistics are NaN, so every output is.
        let y = batch_norm2d_train(x.leaky_trace(), &mut bn, Activation::Relu).unwrap().as_vec();
        assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
    }
}
