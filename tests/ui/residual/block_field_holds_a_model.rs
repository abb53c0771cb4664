use fasterai::prelude::*;

/// A model, not a block: it has an input and no `residual`.
#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Stage {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    bn1: BatchNorm2D<16>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Stage,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

fn main() {}
