use fasterai::prelude::*;

include!("../models/mlp.rs");

compress! {
    pub Small = Mlp { prune(50%), fold() }
}

fn main() {}
