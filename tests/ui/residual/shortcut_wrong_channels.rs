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

include!("../models/down_net.rs");

fn main() {}
