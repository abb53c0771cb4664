use fasterai::prelude::*;

include!("../models/input_resnet.rs");

// The block's conv adds into the model's input and fc gives the classes: nothing may shrink.
compress! {
    pub Small = Net { prune(50%) }
}

fn main() {}
