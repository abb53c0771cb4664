use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 28, 28])]
struct Net {
    conv1: Conv2D<1, 32, 3, 1, 1>,
    bn1: BatchNorm2D<64>,
    relu1: ReLU,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}

fn main() {}
