use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(0%) }
}

fn main() {}
