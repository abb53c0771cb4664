//! What a model must offer the learner: a trainable forward with a tape and an evaluation forward without.

use dfdx::prelude::{Const, Cpu, Module, ModuleMut, OwnedTape, Tensor, TensorCollection};

use super::BatchInput;

/// A model that maps a batch of shape `X` to `K` logits per sample.
///
/// Implemented automatically for every dfdx module that has
/// - `ModuleMut` on `Tensor<X, f32, Cpu, OwnedTape>` giving `Tensor<(usize, Const<K>), f32, Cpu, OwnedTape>`
///   (training: BatchNorm updates its running statistics, Dropout is active),
/// - `Module` on `Tensor<X, f32, Cpu>` giving `Tensor<(usize, Const<K>), f32, Cpu>` (evaluation),
/// - `TensorCollection<f32, Cpu>` (so optimizers can walk its parameters),
///
/// with errors that implement `std::error::Error`. For example `(Linear<64, 128>, ReLU, Linear<128, 10>)`
/// is a `Classifier<(usize, Const<64>), 10>`.
pub trait Classifier<X: BatchInput, const K: usize>:
    TensorCollection<f32, Cpu>
    + ModuleMut<
        Tensor<X, f32, Cpu, OwnedTape<f32, Cpu>>,
        Output = Tensor<(usize, Const<K>), f32, Cpu, OwnedTape<f32, Cpu>>,
        Error: std::error::Error + Send + Sync + 'static,
    > + Module<
        Tensor<X, f32, Cpu>,
        Output = Tensor<(usize, Const<K>), f32, Cpu>,
        Error: std::error::Error + Send + Sync + 'static,
    >
{
}

impl<M, X: BatchInput, const K: usize> Classifier<X, K> for M where
    M: TensorCollection<f32, Cpu>
        + ModuleMut<
            Tensor<X, f32, Cpu, OwnedTape<f32, Cpu>>,
            Output = Tensor<(usize, Const<K>), f32, Cpu, OwnedTape<f32, Cpu>>,
            Error: std::error::Error + Send + Sync + 'static,
        > + Module<
            Tensor<X, f32, Cpu>,
            Output = Tensor<(usize, Const<K>), f32, Cpu>,
            Error: std::error::Error + Send + Sync + 'static,
        >
{
}
