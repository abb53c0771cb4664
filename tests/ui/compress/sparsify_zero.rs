use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { sparsify(0%) }
}

fn main() {}
