use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { fold(), prune(50%), fold() }
}

fn main() {}
