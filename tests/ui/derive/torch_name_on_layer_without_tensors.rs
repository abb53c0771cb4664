use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp {
    #[torch = "0"]
    fc1: Linear<4, 8>,
    #[torch = "1"]
    relu: ReLU,
    #[torch = "2"]
    fc2: Linear<8, 2>,
}

fn main() {}
