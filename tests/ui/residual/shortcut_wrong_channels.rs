use fasterai::prelude::*;

/// The shortcut gives 24 channels where the main path gives 32.
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Down {
    conv1: UnbiasedConv2D<16, 32, 3, 2, 1>,
    bn1: BatchNorm2D<32>,
    #[shortcut]
    downsample: UnbiasedConv2D<16, 24, 1, 2>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer2: Down,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}

fn main() {}
