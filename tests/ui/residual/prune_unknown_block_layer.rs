use fasterai::prelude::*;

include!("../models/basic16.rs");

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 16, 3, 1, 1>,
    #[block]
    layer1: (Basic16, Basic16),
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

// The tuple holds two blocks: `layer1.0` and `layer1.1`.
compress! {
    pub Small = Net { prune(layer1.2.conv1 = 8) }
}

fn main() {}
