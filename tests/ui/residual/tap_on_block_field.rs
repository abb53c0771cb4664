use fasterai::prelude::*;

include!("../models/basic16.rs");

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[tap]
    #[block]
    layer1: Basic16,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

fn main() {}
