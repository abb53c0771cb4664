use fasterai::prelude::*;

mod models {
    use fasterai::prelude::*;

    #[derive(Compressible, Clone)]
    #[compressible(input = [16])]
    pub struct Mlp {
        fc1: Linear<16, 32>, relu1: ReLU,
        fc2: Linear<32, 10>,
    }
}

compress! {
    pub Small = Mlp { prune(50%) }
}

fn main() {}
