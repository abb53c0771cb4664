use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    fc1: Linear<4, 8>,
    #[torch = "classifier.2.weight"]
    fc2: Linear<8, 2>,
}

fn main() {}
