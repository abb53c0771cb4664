use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 28])]
struct Mlp {
    fc1: Linear<28, 2>,
}

fn main() {}
