use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(inputs = [4])]
struct Mlp {
    fc1: Linear<4, 2>,
}

fn main() {}
