use fasterai::prelude::*;

include!("../models/mlp.rs");

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
