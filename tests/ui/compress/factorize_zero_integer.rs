use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { factorize(0) }
}

fn main() {}
