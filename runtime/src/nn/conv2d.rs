//! `Conv2D` and `UnbiasedConv2D`: 2-D convolution layers as real dfdx modules on stable Rust.
//!
//! Parameters are named `weight` (`O × I × K × K`) and `bias` (`O`) like PyTorch's, so
//! safetensors keys match a PyTorch state dict; initialisation is PyTorch's default
//! (weight and bias uniform in `±1/√(I·K·K)`, i.e. kaiming-uniform with `a = √5`).

use dfdx::nn::{
    BuildModule, BuildOnDevice, Module, ModuleVisitor, NonMutableModule, TensorCollection,
    TensorOptions,
};
use dfdx::prelude::{Const, Cpu, Dtype, Rank1, Rank4, Tape, Tensor};
use dfdx::tensor::Storage;
use dfdx::tensor_ops::Device;
use num_traits::Float;
use rand_distr::{uniform::SampleUniform, Uniform};

use super::NnError;
use crate::ops::conv2d::{conv2d, Conv2dParams};

/// Resets a tensor to PyTorch's default for a layer with `fan_in` inputs per output:
/// uniform in `±1/√fan_in`.
fn pytorch_uniform<S: dfdx::shapes::Shape, E, D>(
    t: &mut Tensor<S, E, D>,
    fan_in: usize,
) -> Result<(), D::Err>
where
    E: Dtype + Float + SampleUniform,
    D: Device<E>,
{
    let bound = E::ONE / E::from_usize(fan_in.max(1)).unwrap_or(E::ONE).sqrt();
    t.try_fill_with_distr(Uniform::new(-bound, bound))
}

/// 2-D convolution with bias: `I` input channels, `O` output channels, a `K × K` kernel,
/// stride `S`, zero padding `P` on each side; input `(batch, I, H, W)`, output
/// `(batch, O, (H + 2P − K)/S + 1, (W + 2P − K)/S + 1)`.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::dfdx::prelude::{Const, ZerosTensor};
/// use fasterai_runtime::nn::Conv2D;
/// let dev = Cpu::default();
/// let conv = dev.build_module::<Conv2D<3, 8, 3, 2, 1>, f32>();
/// let y = conv.try_forward(dev.zeros_like(&(4, Const::<3>, 32, 20)))?;
/// assert_eq!(y.shape().concrete(), [4, 8, 16, 10]);
/// # use fasterai_runtime::dfdx::shapes::{HasShape, Shape};
/// # Ok::<(), fasterai_runtime::nn::NnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Conv2D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// Filters, `O × I × K × K` (PyTorch's layout).
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
    /// One bias per output channel.
    pub bias: Tensor<Rank1<O>, E, D>,
}

/// [`Conv2D`] without bias (the usual choice before a batch norm).
///
/// ```
/// use fasterai_runtime::prelude::*;
/// use fasterai_runtime::nn::UnbiasedConv2D;
/// let dev = Cpu::default();
/// let conv = dev.build_module::<UnbiasedConv2D<1, 4, 3, 1, 1>, f32>();
/// assert_eq!(conv.weight.as_vec().len(), 4 * 9);
/// ```
#[derive(Debug, Clone)]
pub struct UnbiasedConv2D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// Filters, `O × I × K × K` (PyTorch's layout).
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
}

/// Implements the dfdx plumbing shared by both layers (they differ only in the bias field).
macro_rules! impl_conv_plumbing {
    ($layer:ident) => {
        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                E: Dtype,
                D: Storage<E>,
            > NonMutableModule for $layer<I, O, K, S, P, E, D>
        {
        }

        /// The layer type is its own builder: `dev.build_module::<Conv2D<1, 32, 3>, f32>()`.
        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                E,
                D,
                E2,
                D2,
            > BuildOnDevice<D2, E2> for $layer<I, O, K, S, P, E, D>
        where
            E: Dtype,
            D: Storage<E>,
            E2: Dtype,
            D2: Device<E2>,
            $layer<I, O, K, S, P, E2, D2>: BuildModule<D2, E2>,
        {
            type Built = $layer<I, O, K, S, P, E2, D2>;
            fn try_build_on_device(device: &D2) -> Result<Self::Built, D2::Err> {
                Self::Built::try_build(device)
            }
        }

        impl<
                const I: usize,
                const O: usize,
                const K: usize,
                const S: usize,
                const P: usize,
                T: Tape<f32, Cpu>,
            > Module<Tensor<(usize, Const<I>, usize, usize), f32, Cpu, T>>
            for $layer<I, O, K, S, P, f32, Cpu>
        {
            type Output = Tensor<(usize, Const<O>, usize, usize), f32, Cpu, T>;
            type Error = NnError;

            fn try_forward(
                &self,
                x: Tensor<(usize, Const<I>, usize, usize), f32, Cpu, T>,
            ) -> Result<Self::Output, NnError> {
                conv2d(
                    x,
                    &self.weight,
                    self.bias_ref(),
                    Conv2dParams {
                        stride: S,
                        padding: P,
                    },
                )
            }
        }
    };
}

impl_conv_plumbing!(Conv2D);
impl_conv_plumbing!(UnbiasedConv2D);

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize>
    Conv2D<I, O, K, S, P, f32, Cpu>
{
    fn bias_ref(&self) -> Option<&Tensor<Rank1<O>, f32, Cpu>> {
        Some(&self.bias)
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize>
    UnbiasedConv2D<I, O, K, S, P, f32, Cpu>
{
    fn bias_ref(&self) -> Option<&Tensor<Rank1<O>, f32, Cpu>> {
        None
    }
}

/// Implements dfdx's `TensorCollection` for a conv layer with the given tensor fields, each named
/// after its field and reset to PyTorch's default for `I·K·K` inputs per output.
macro_rules! impl_conv_tensors {
    ($layer:ident { $($field:ident),+ }) => {
        impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D>
            TensorCollection<E, D> for $layer<I, O, K, S, P, E, D>
        where
            E: Dtype + Float + SampleUniform,
            D: Device<E>,
        {
            type To<E2: Dtype, D2: Device<E2>> = $layer<I, O, K, S, P, E2, D2>;

            fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    ($(
                        Self::tensor(
                            stringify!($field),
                            |s| &s.$field,
                            |s| &mut s.$field,
                            TensorOptions::reset_with(|t| pytorch_uniform(t, I * K * K)),
                        ),
                    )+),
                    |($($field,)+)| $layer { $($field),+ },
                )
            }
        }
    };
}

impl_conv_tensors!(Conv2D { weight, bias });
impl_conv_tensors!(UnbiasedConv2D { weight });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{load_weights, save_weights};
    use dfdx::optim::{Sgd, SgdConfig};
    use dfdx::prelude::*;

    #[test]
    fn builds_with_pytorch_default_init() {
        let dev = Cpu::default();
        let conv = dev.build_module::<Conv2D<8, 16, 3>, f32>();
        let bound = 1.0 / (8.0f32 * 9.0).sqrt();
        let w = conv.weight.as_vec();
        let b = conv.bias.as_vec();
        assert!(w.iter().chain(&b).all(|v| v.abs() <= bound));
        // Uniform over ±bound: the extremes are reached, not a narrower range.
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.9 * bound, "{max} vs {bound}");
        assert_eq!(conv.num_trainable_params(), 16 * 8 * 9 + 16);
        let unbiased = dev.build_module::<UnbiasedConv2D<8, 16, 3>, f32>();
        assert_eq!(unbiased.num_trainable_params(), 16 * 8 * 9);
    }

    #[test]
    fn reset_params_redraws_the_weights() {
        let dev = Cpu::default();
        let mut conv = dev.build_module::<Conv2D<2, 3, 3>, f32>();
        let before = conv.weight.as_vec();
        conv.reset_params();
        assert_ne!(before, conv.weight.as_vec());
    }

    #[test]
    fn forward_with_and_without_tape_agree_and_shapes_follow_stride_and_padding() {
        let dev = Cpu::default();
        let conv = dev.build_module::<Conv2D<3, 4, 3, 2, 1>, f32>();
        let x: Tensor<(usize, Const<3>, usize, usize), f32, _> =
            dev.sample_normal_like(&(2, Const, 9, 6));
        let plain = conv.try_forward(x.clone()).unwrap();
        let traced = conv.try_forward(x.leaky_trace()).unwrap();
        assert_eq!(plain.shape().concrete(), [2, 4, 5, 3]);
        assert_eq!(plain.as_vec(), traced.as_vec());
        let mut conv_mut = conv.clone();
        assert_eq!(
            conv_mut.try_forward_mut(x).unwrap().as_vec(),
            plain.as_vec()
        );
    }

    #[test]
    fn image_smaller_than_kernel_is_an_error_not_a_panic() {
        let dev = Cpu::default();
        let conv = dev.build_module::<UnbiasedConv2D<1, 2, 5>, f32>();
        let err = conv
            .try_forward(dev.zeros_like(&(1, Const::<1>, 3, 7)))
            .unwrap_err();
        assert!(
            matches!(
                err,
                NnError::KernelLargerThanImage {
                    kernel: 5,
                    height: 3,
                    width: 7,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn optimizer_updates_both_parameters() {
        let dev = Cpu::default();
        let mut conv = dev.build_module::<Conv2D<1, 2, 3, 1, 1>, f32>();
        let mut opt = Sgd::new(
            &conv,
            SgdConfig {
                lr: 0.1,
                momentum: None,
                weight_decay: None,
            },
        );
        let (w0, b0) = (conv.weight.as_vec(), conv.bias.as_vec());
        let grads = conv.alloc_grads();
        let x: Tensor<(usize, Const<1>, usize, usize), f32, _> =
            dev.sample_normal_like(&(2, Const, 5, 5));
        let loss = conv.try_forward(x.traced(grads)).unwrap().square().mean();
        let grads = loss.backward();
        opt.update(&mut conv, &grads).unwrap();
        assert_ne!(w0, conv.weight.as_vec());
        assert_ne!(b0, conv.bias.as_vec());
    }

    #[test]
    fn save_load_round_trip_reproduces_outputs_bit_for_bit() {
        let dev = Cpu::default();
        let dir = std::env::temp_dir().join(format!("fasterai-conv2d-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("conv.safetensors");
        let saved = dev.build_module::<Conv2D<3, 5, 3, 2, 1>, f32>();
        save_weights(&saved, &path).unwrap();
        let mut loaded = dev.build_module::<Conv2D<3, 5, 3, 2, 1>, f32>();
        assert_ne!(saved.weight.as_vec(), loaded.weight.as_vec());
        load_weights(&mut loaded, &path).unwrap();
        let x: Tensor<(usize, Const<3>, usize, usize), f32, _> =
            dev.sample_normal_like(&(3, Const, 11, 8));
        let a = saved.try_forward(x.clone()).unwrap().as_vec();
        let b = loaded.try_forward(x).unwrap().as_vec();
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );

        // Keys are PyTorch's.
        let bytes = std::fs::read(&path).unwrap();
        let file = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort();
        assert_eq!(names, ["bias", "weight"]);

        // A layer with other channel counts is refused, naming the tensor and both shapes.
        let mut other = dev.build_module::<Conv2D<3, 4, 3, 2, 1>, f32>();
        let before = other.weight.as_vec();
        let err = load_weights(&mut other, &path).unwrap_err();
        match &err {
            NnError::ShapeMismatch {
                name,
                expected,
                found,
            } => {
                assert_eq!(name, "weight");
                assert_eq!(expected, &[4, 3, 3, 3]);
                assert_eq!(found, &[5, 3, 3, 3]);
            }
            e => panic!("unexpected error {e}"),
        }
        assert!(
            err.to_string().contains("[4, 3, 3, 3]") && err.to_string().contains("[5, 3, 3, 3]")
        );
        assert_eq!(
            before,
            other.weight.as_vec(),
            "a refused load leaves the model untouched"
        );

        // An unbiased layer reads the weight of a biased file, a biased one misses its bias.
        let mut unbiased = dev.build_module::<UnbiasedConv2D<3, 5, 3, 2, 1>, f32>();
        load_weights(&mut unbiased, &path).unwrap();
        assert_eq!(unbiased.weight.as_vec(), saved.weight.as_vec());
        save_weights(&unbiased, &path).unwrap();
        let err = load_weights(&mut loaded, &path).unwrap_err();
        assert!(
            matches!(&err, NnError::MissingTensor { name } if name == "bias"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
