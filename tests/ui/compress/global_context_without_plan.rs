use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(50%, context = global) }
}

fn main() {}
