use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Nett { prune(50%) }
}

fn main() {}
