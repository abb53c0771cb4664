use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp<const H: usize> {
    fc1: Linear<4, H>,
    fc2: Linear<H, 2>,
}

fn main() {}
