use fasterai::prelude::*;

const SIDE: usize = 28;

#[derive(Compressible)]
#[compressible(input = [1, SIDE, SIDE])]
struct Net {
    gap: GlobalAvgPool,
}

fn main() {}
