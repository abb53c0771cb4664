use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Basic64 {
    conv1: UnbiasedConv2D<64, 64, 3, 1, 1>,
    bn1: BatchNorm2D<64>,
}

/// The stem gives 32 channels; the blocks take 64.
#[derive(Compressible, Clone)]
#[compressible(input = [3, 16, 16])]
pub struct Net {
    conv1: UnbiasedConv2D<3, 32, 3, 1, 1>,
    #[block]
    layer1: (Basic64, Basic64),
    gap: GlobalAvgPool,
    fc: Linear<64, 10>,
}

fn main() {}
