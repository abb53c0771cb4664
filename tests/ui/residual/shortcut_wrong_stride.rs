use fasterai::prelude::*;

/// The main path halves the map; the shortcut conv keeps it (stride 1).
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Down {
    conv1: UnbiasedConv2D<16, 32, 3, 2, 1>,
    bn1: BatchNorm2D<32>,
    #[shortcut]
    downsample: UnbiasedConv2D<16, 32, 1, 1>,
    #[shortcut]
    downsample_bn: BatchNorm2D<32>,
}

include!("../models/down_net.rs");

fn main() {}
