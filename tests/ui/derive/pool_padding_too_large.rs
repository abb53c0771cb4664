use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [1, 8, 8])]
struct Net {
    pool: MaxPool2D<3, 1, 2>,
    gap: GlobalAvgPool,
}

fn main() {}
