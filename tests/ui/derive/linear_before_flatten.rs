use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 28, 28])]
struct Net {
    conv1: Conv2D<1, 8, 3>,
    relu1: ReLU,
    fc: Linear<5408, 10>,
}

fn main() {}
