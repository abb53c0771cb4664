use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { distill(teacher: Net, loss = SoftTarget(temp = 3.0)) }
}

fn main() {}
