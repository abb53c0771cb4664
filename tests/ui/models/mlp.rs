// A two-layer MLP without batch norm, for the `compress!` UI cases that need no convolution.
//
// A case writes `include!("../models/<this file>");` after its `use fasterai::prelude::*;` (the
// model is declared where the case includes it, as if written there); a case about a mistake in
// the model itself keeps its own struct.

#[derive(Compressible, Clone)]
#[compressible(input = [16])]
pub struct Mlp {
    fc1: Linear<16, 32>, relu1: ReLU,
    fc2: Linear<32, 10>,
}
