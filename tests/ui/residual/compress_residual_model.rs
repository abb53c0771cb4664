use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Basic16 {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    bn1: BatchNorm2D<16>,
}

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Basic16,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

compress! {
    pub Small = Net { prune(50%) }
}

fn main() {}
