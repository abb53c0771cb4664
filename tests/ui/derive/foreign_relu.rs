use fasterai::prelude::Compressible;
use fasterai::prelude::{Linear, Module};

/// A type of one's own that happens to be called `ReLU` (a leaky one).
#[derive(Default, Clone)]
pub struct ReLU;

impl<T> Module<T> for ReLU {
    type Output = T;
    type Error = fasterai::nn::NnError;
    fn try_forward(&self, x: T) -> Result<T, Self::Error> {
        Ok(x)
    }
}

#[derive(Compressible, Clone)]
#[compressible(input = [4])]
pub struct Mlp {
    fc1: Linear<4, 8>,
    act: ReLU,
    fc2: Linear<8, 2>,
}

fn main() {}
