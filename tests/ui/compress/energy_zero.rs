use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { factorize(fc1 = 16, energy = 0%) }
}

fn main() {}
