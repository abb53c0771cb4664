use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual, input = [16, 8, 8])]
pub struct Block {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    bn1: BatchNorm2D<16>,
}

fn main() {}
