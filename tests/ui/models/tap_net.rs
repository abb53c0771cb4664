// A small conv net with one `#[tap]` field (`relu1`), for the `compress!` UI cases about
// feature-distillation `pairs`.
//
// A case writes `include!("../models/<this file>");` after its `use fasterai::prelude::*;` (the
// model is declared where the case includes it, as if written there); a case about a mistake in
// the model itself keeps its own struct.

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, #[tap] relu1: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc: Linear<128, 10>,
}
