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

// `conv1` and the last conv of each block add into the same channels: one width for all three.
compress! {
    pub Small = Net { prune(conv1 = 8, layer1.1.conv1 = 4) }
}

fn main() {}
