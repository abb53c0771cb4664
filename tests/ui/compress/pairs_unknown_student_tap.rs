use fasterai::prelude::*;

include!("../models/tap_net.rs");

compress! {
    pub Distilled = Net { distill(teacher: Net, loss = Attention(p = 2), pairs = "conv1 -> relu1") }
}

fn main() {}
