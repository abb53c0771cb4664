use fasterai::prelude::*;

mod models {
    use fasterai::prelude::*;

    include!("../models/mlp.rs");
}

compress! {
    pub Small = Mlp { prune(50%) }
}

fn main() {}
