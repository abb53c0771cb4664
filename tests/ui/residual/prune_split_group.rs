use fasterai::prelude::*;

include!("../models/stem_resnet.rs");

// `conv1` and the last conv of each block add into the same channels: one width for all three.
compress! {
    pub Small = Net { prune(conv1 = 8, layer1.1.conv1 = 4) }
}

fn main() {}
