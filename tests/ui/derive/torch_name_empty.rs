use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    #[torch = ""]
    fc1: Linear<4, 8>,
    fc2: Linear<8, 2>,
}

fn main() {}
