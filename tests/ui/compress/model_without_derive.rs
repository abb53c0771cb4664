use fasterai::prelude::*;

#[derive(Clone)]
pub struct Net {
    fc1: Linear<16, 32>,
    fc2: Linear<32, 10>,
}

compress! {
    pub Small = Net { prune(50%) }
}

fn main() {}
