use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Block {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    #[shortcut]
    downsample: UnbiasedConv2D<16, 16, 1>,
    bn1: BatchNorm2D<16>,
}

fn main() {}
