use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 28, 28])]
struct Net {
    conv1: Conv2D<1, 32, 3, 1, 1>,
    relu1: ReLU,
    conv2: Conv2D<16, 64, 3, 1, 1>,
    relu2: ReLU,
    gap: GlobalAvgPool,
    fc: Linear<64, 10>,
}

fn main() {}
