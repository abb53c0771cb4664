use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [4])]
struct Mlp(Linear<4, 8>, ReLU, Linear<8, 2>);

fn main() {}
