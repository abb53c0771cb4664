use fasterai::prelude::*;

type Hidden = Linear<4, 8>;

#[derive(Compressible, Clone)]
#[compressible(input = [4])]
pub struct Mlp {
    fc1: Hidden,
    relu: ReLU,
    fc2: Linear<8, 2>,
}

fn main() {}
