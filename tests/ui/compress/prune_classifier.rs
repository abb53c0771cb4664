use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(fc2 = 5) }
}

fn main() {}
