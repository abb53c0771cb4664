// The conv net most `compress!` UI cases compress: two convolutions (the first with a batch
// norm), a 2x2 max pool and two linear layers on a 1x8x8 input.
//
// A case writes `include!("../models/<this file>");` after its `use fasterai::prelude::*;` (the
// model is declared where the case includes it, as if written there); a case about a mistake in
// the model itself keeps its own struct.

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, bn1: BatchNorm2D<8>, relu1: ReLU,
    conv2: Conv2D<8, 16, 3, 1, 1>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<256, 32>, relu3: ReLU,
    fc2: Linear<32, 10>,
}
