use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { factorize(conv1 = 4) }
}

fn main() {}
