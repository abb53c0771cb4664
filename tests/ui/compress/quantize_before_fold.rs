use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(50%), quantize() }
}

fn main() {}
