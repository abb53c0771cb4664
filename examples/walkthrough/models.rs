//! The two models the walkthrough trains, declared as plain structs of layers.
//!
//! `#[derive(Compressible)]` reads the input shape, computes every layer's output shape while
//! compiling, and writes the forward pass with concrete types.

use fasterai::prelude::*;

/// A small CNN for the 8×8 digits: two 3×3 convolutions with batch norm, one 2×2 max-pool, then two
/// fully connected layers (38,378 parameters).
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsCnn {
    conv1: Conv2D<1, 16, 3, 1, 1>,  bn1: BatchNorm2D<16>, relu1: ReLU,
    conv2: Conv2D<16, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<512, 64>, relu3: ReLU,
    fc2: Linear<64, 10>,
}

/// DESIGN.md's SmallVgg for 1×28×28 images (871,018 parameters, 19.1 M multiply-adds per image).
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 28, 28])]
pub struct SmallVgg {
    conv1: Conv2D<1, 32, 3, 1, 1>,  bn1: BatchNorm2D<32>, relu1: ReLU,
    conv2: Conv2D<32, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU, pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<32, 64, 3, 1, 1>, bn3: BatchNorm2D<64>, relu3: ReLU,
    conv4: Conv2D<64, 64, 3, 1, 1>, bn4: BatchNorm2D<64>, relu4: ReLU, pool2: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<3136, 256>, relu5: ReLU,
    fc2: Linear<256, 10>,
}

/// The batch shape [`DigitsCnn`] takes.
pub type DigitsInput = (usize, Const<1>, Const<8>, Const<8>);
/// The batch shape [`SmallVgg`] takes.
pub type Mnist28Input = (usize, Const<1>, Const<28>, Const<28>);
