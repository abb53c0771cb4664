use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [784])]
struct Net {
    conv1: Conv2D<1, 8, 3>,
    relu: ReLU,
}

fn main() {}
