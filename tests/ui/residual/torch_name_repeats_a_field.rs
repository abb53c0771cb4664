use fasterai::prelude::*;

// `downsample` would load `conv1.*`, which `conv1` loads already.
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Down {
    conv1: UnbiasedConv2D<8, 16, 3, 2, 1>,
    bn1: BatchNorm2D<16>,
    #[shortcut]
    #[torch = "conv1"]
    downsample: UnbiasedConv2D<8, 16, 1, 2>,
}

fn main() {}
