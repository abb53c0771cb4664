//! The embedded 8×8 digits as the training tests take them, and a model trained on them.

use fasterai::data::{DataLoaders, Dataset};
use fasterai::learn::Classifier;
use fasterai::prelude::*;

/// A batch of 8×8 single-channel digits.
pub type Input = (usize, Const<1>, Const<8>, Const<8>);

/// 256 training digits (8 batches of 32) and 64 validation digits.
pub fn data() -> DataLoaders {
    let (train, valid) = digits(0.2, 0).unwrap();
    let first = |set: &Dataset, n: usize| set.select(&(0..n).collect::<Vec<_>>()).unwrap();
    DataLoaders::new(first(&train, 256), first(&valid, 64), 32, 0)
}

/// A model built from `seed` and trained quietly on [`data`] for `epochs` one-cycle epochs peaking at 1e-2.
pub fn trained<M: Classifier<Input, 10> + BuildOnDevice<Cpu, f32, Built = M>>(seed: u64, epochs: usize) -> M {
    let model = Cpu::seed_from_u64(seed).build_module::<M, f32>();
    let mut learn: Learner<_, Input, 10> = Learner::new(model, data()).with_output(Output::Quiet);
    learn.fit_one_cycle(epochs, 1e-2).unwrap();
    learn.into_model()
}

/// A batch of 8×8 single-channel images.
pub type Images = Tensor<Input, f32, Cpu>;

/// `batch` fixed 8×8 images with values in [−1, 1), the same in every test that asks for them.
pub fn images(dev: &Cpu, batch: usize) -> Images {
    let values: Vec<f32> = (0..batch * 64).map(|i| ((i * 7919 % 97) as f32) / 48.0 - 1.0).collect();
    dev.tensor_from_vec(values, (batch, Const, Const, Const))
}
