use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { distill(teacher: Net, loss = SoftTarget(temperature = 3.0, alpha = 0.0)) }
}

fn main() {}
