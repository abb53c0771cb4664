use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { fold(), quantize(epochs = 3, speed = 2) }
}

fn main() {}
