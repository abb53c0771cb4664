use fasterai::prelude::*;

#[derive(Default)]
struct Swish;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    fc1: Linear<4, 8>,
    act: Swish,
    fc2: Linear<8, 2>,
}

fn main() {}
