use fasterai::prelude::*;

/// Widens 16 → 32 channels but has no shortcut: the input cannot be added to the output.
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Widen {
    conv1: UnbiasedConv2D<16, 32, 3, 1, 1>,
    bn1: BatchNorm2D<32>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Widen,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}

fn main() {}
