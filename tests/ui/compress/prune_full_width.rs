use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(conv1 = 8) }
}

fn main() {}
