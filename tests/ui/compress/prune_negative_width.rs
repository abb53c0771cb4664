use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(conv1 = -4) }
}

fn main() {}
