use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 4, 4])]
struct Net {
    pool1: MaxPool2D<2>,
    conv1: Conv2D<1, 8, 3>,
    flatten: Flatten,
    fc: Linear<8, 10>,
}

fn main() {}
