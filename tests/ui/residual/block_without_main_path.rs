use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Block {
    #[shortcut]
    downsample: UnbiasedConv2D<16, 16, 1>,
}

fn main() {}
