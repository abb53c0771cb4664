use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { sparsify(50%, criteria = large_finale) }
}

fn main() {}
