use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prun(50%), fold() }
}

fn main() {}
