use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(100%) }
}

fn main() {}
