use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    fc1: Linear<4, 0>,
}

fn main() {}
