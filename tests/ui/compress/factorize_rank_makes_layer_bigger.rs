use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { factorize(fc1 = 30) }
}

fn main() {}
