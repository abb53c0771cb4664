use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [16])]
pub struct Mlp {
    fc1: Linear<16, 32>, relu1: ReLU,
    fc2: Linear<32, 10>,
}

compress! {
    pub Small = Mlp { prune(50%, criteria = large_final) }
}

fn shrink(model: &Mlp, plan: &PrunePlan) -> Small {
    let small = Small::from_source(model, plan).unwrap();
    assert_eq!(Small::num_params(), 0);
    small.clone()
}

fn main() {
    let _ = shrink;
}
