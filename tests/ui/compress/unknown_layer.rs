use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(conv9 = 4) }
}

fn main() {}
