use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    #[shortcut]
    downsample: UnbiasedConv2D<16, 16, 1>,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

fn main() {}
