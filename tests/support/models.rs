//! The models the integration tests share, each declared once.

use fasterai::prelude::*;

/// DESIGN.md's SmallVgg for 1×28×28 images (871,018 parameters); `fc1`'s output is tapped.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 28, 28])]
pub struct SmallVgg {
    pub conv1: Conv2D<1, 32, 3, 1, 1>,  pub bn1: BatchNorm2D<32>, pub relu1: ReLU,
    pub conv2: Conv2D<32, 32, 3, 1, 1>, pub bn2: BatchNorm2D<32>, pub relu2: ReLU, pub pool1: MaxPool2D<2, 2>,
    pub conv3: Conv2D<32, 64, 3, 1, 1>, pub bn3: BatchNorm2D<64>, pub relu3: ReLU,
    pub conv4: Conv2D<64, 64, 3, 1, 1>, pub bn4: BatchNorm2D<64>, pub relu4: ReLU, pub pool2: MaxPool2D<2, 2>,
    pub flatten: Flatten,
    #[tap]
    pub fc1: Linear<3136, 256>, pub relu5: ReLU,
    pub fc2: Linear<256, 10>,
}

/// A CNN for the 8×8 digits: convolutions of 16 and 32 filters, one pooling, Linear 512 → 64 → 10.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsNet {
    pub conv1: Conv2D<1, 16, 3, 1, 1>,  pub bn1: BatchNorm2D<16>, pub relu1: ReLU,
    pub conv2: Conv2D<16, 32, 3, 1, 1>, pub bn2: BatchNorm2D<32>, pub relu2: ReLU, pub pool: MaxPool2D<2, 2>,
    pub flatten: Flatten,
    pub fc1: Linear<512, 64>, pub relu3: ReLU,
    pub fc2: Linear<64, 10>,
}

/// [`DigitsNet`] at half the width (8 and 16 filters, Linear 256 → 32 → 10): trains in a blink.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct SmallDigitsNet {
    pub conv1: Conv2D<1, 8, 3, 1, 1>,  pub bn1: BatchNorm2D<8>, pub relu1: ReLU,
    pub conv2: Conv2D<8, 16, 3, 1, 1>, pub bn2: BatchNorm2D<16>, pub relu2: ReLU, pub pool: MaxPool2D<2, 2>,
    pub flatten: Flatten,
    pub fc1: Linear<256, 32>, pub relu3: ReLU,
    pub fc2: Linear<32, 10>,
}
