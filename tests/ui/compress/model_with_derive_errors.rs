use fasterai::prelude::*;

// The derive reports the model's mistake; `compress!` then adds nothing, and its type exists (a stub).
#[derive(Compressible, Clone)]
#[compressible(input = [16])]
pub struct Mlp {
    fc1: Linear<16, 32>, relu1: ReLU,
    fc2: Linear<24, 10>,
}

compress! {
    pub Small = Mlp { prune(50%) }
}

fn shrink(model: &Mlp, plan: &PrunePlan) -> Small {
    Small::from_source(model, plan).unwrap()
}

fn main() {
    let _ = shrink;
}
