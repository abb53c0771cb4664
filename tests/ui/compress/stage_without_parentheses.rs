use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { fold }
}

fn main() {}
