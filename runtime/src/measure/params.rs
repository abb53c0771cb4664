//! Counting trainable parameters.

use dfdx::{
    nn::{NumParams, TensorCollection},
    shapes::Dtype,
    tensor_ops::Device,
};

/// The number of trainable parameters of any dfdx model (every tensor the optimiser updates).
///
/// BatchNorm's running mean and variance are buffers, not parameters, so they are not counted
/// (as in PyTorch's `parameters()`); they are still saved, see [`super::model_size`].
///
/// ```
/// use fasterai_runtime::{measure::num_params, nn::Linear, prelude::*};
/// let model: Linear<3, 2> = BuildModule::build(&Cpu::default());
/// assert_eq!(num_params(&model), 3 * 2 + 2);
/// ```
pub fn num_params<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(model: &M) -> usize {
    model.num_trainable_params()
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::{BuildModule, Cpu};

    use super::*;
    use crate::nn::{BatchNorm2D, Linear, ReLU, UnbiasedLinear};

    #[test]
    fn counts_weights_and_biases_but_not_batchnorm_buffers() {
        let dev = Cpu::default();
        type Mlp = (Linear<10, 20>, ReLU, UnbiasedLinear<20, 5>);
        assert_eq!(num_params(&Mlp::build(&dev)), 10 * 20 + 20 + 20 * 5);
        // scale and bias are trained; running statistics are not.
        assert_eq!(num_params(&BatchNorm2D::<8>::build(&dev)), 16);
    }
}
