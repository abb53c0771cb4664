use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { fold(), quantize(), factorize(0.5) }
}

fn main() {}
