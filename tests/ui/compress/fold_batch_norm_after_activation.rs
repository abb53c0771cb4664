use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, relu1: ReLU, bn1: BatchNorm2D<8>,
    gap: GlobalAvgPool,
    fc: Linear<8, 10>,
}

compress! {
    pub Folded = Net { fold() }
}

fn main() {}
