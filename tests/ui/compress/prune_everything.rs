use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU,
    conv2: Conv2D<8, 16, 3, 1, 1>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<256, 32>, relu3: ReLU,
    fc2: Linear<32, 10>,
}

compress! {
    pub Small = Net { prune(100%) }
}

fn main() {}
