use fasterai::prelude::*;

include!("../models/input_resnet.rs");

// The block adds its conv's outputs to the model's input: they keep the input's 16 channels.
compress! {
    pub Small = Net { prune(layer1.conv1 = 8) }
}

fn main() {}
