use fasterai::prelude::*;

include!("../models/basic16.rs");

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Basic16,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

// The block adds its conv's outputs to the model's input: they keep the input's 16 channels.
compress! {
    pub Small = Net { prune(layer1.conv1 = 8) }
}

fn main() {}
