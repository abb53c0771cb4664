use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
enum Model {
    Small(Linear<4, 2>),
    Large(Linear<4, 8>),
}

fn main() {}
