use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Net = Net { prune(50%) }
}

fn main() {}
