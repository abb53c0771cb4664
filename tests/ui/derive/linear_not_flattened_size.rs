use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 28, 28])]
struct Net {
    conv1: Conv2D<1, 64, 3, 1, 1>,
    pool1: MaxPool2D<2>,
    pool2: MaxPool2D<2>,
    flatten: Flatten,
    fc1: Linear<3000, 256>,
    fc2: Linear<256, 10>,
}

fn main() {}
