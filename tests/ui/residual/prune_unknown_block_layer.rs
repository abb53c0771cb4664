use fasterai::prelude::*;

include!("../models/stem_resnet.rs");

// The tuple holds two blocks: `layer1.0` and `layer1.1`.
compress! {
    pub Small = Net { prune(layer1.2.conv1 = 8) }
}

fn main() {}
