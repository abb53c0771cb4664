use fasterai::prelude::*;

const HIDDEN: usize = 8;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    fc1: Linear<4, HIDDEN>,
    relu: ReLU,
    fc2: Linear<HIDDEN, 2>,
}

fn main() {}
