use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(150%) }
}

fn main() {}
