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

// The block's conv adds into the model's input and fc gives the classes: nothing may shrink.
compress! {
    pub Small = Net { prune(50%) }
}

fn main() {}
