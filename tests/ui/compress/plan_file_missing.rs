use fasterai::prelude::*;

include!("../models/net.rs");

compress! {
    pub Small = Net { prune(plan = "no_such_plan.json") }
}

fn main() {}
