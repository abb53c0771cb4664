use fasterai::prelude::*;

/// Halves the map at stride 2 but has no shortcut.
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Halve {
    conv1: UnbiasedConv2D<16, 16, 3, 2, 1>,
    bn1: BatchNorm2D<16>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Halve,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

fn main() {}
