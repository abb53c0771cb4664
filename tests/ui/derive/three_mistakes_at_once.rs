// Independent mistakes are all reported, each once; the layers between them are still checked
// from the sizes the faulty layers declare, so no error cascades from them.
use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [3, 32, 32])]
struct Net {
    conv1: Conv2D<1, 32, 3, 1, 1>,
    bn1: BatchNorm2D<32>,
    conv2: Conv2D<32, 64, 3, 1, 1>,
    bn2: BatchNorm2D<32>,
    relu2: ReLU,
    pool: MaxPool2D<2>,
    flatten: Flatten,
    fc1: Linear<4096, 128>,
    fc2: Linear<128, 10>,
}

fn main() {}
