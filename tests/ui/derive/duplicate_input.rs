use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
#[compressible(input = [8])]
struct Mlp {
    fc1: Linear<4, 2>,
}

fn main() {}
