//! The models of the walkthrough, declared as plain structs of layers, and the compressed types
//! each structural stage turns them into.
//!
//! `#[derive(Compressible)]` reads the input shape, computes every layer's output shape while
//! compiling, and writes the forward pass with concrete types. Each `compress!` block below
//! declares the type one structural stage produces from the type before it, with the new widths
//! computed at compile time, and generates its `from_source` conversion.

use fasterai::prelude::*;

/// The CNN the walkthrough compresses on the 8×8 digits: two 3×3 convolutions with batch norm,
/// then two fully connected layers (281,866 parameters).
///
/// Why this shape: the 8×8 images are small, so a textbook CNN for them (one pooling, a 64-wide
/// first Linear) has about 38 k parameters, and the fixed costs of a file (the safetensors
/// header, the per-channel scales of int8) would weigh on its size as much as the weights of the
/// compressed model. Wider convolutions (32, 64) and no pooling make the first Linear read
/// 64×8×8 = 4,096 features: the bulk of the weights sits where pruning (half its inputs) and
/// factorizing (half its rank) both cut, as in VGG16 whose classifier holds most of its weights.
/// It still trains in seconds.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsCnn {
    conv1: Conv2D<1, 32, 3, 1, 1>,  bn1: BatchNorm2D<32>, relu1: ReLU,
    conv2: Conv2D<32, 64, 3, 1, 1>, bn2: BatchNorm2D<64>, relu2: ReLU,
    flatten: Flatten,
    fc1: Linear<4096, 64>, relu3: ReLU,
    fc2: Linear<64, 10>,
}

/// The teacher for the digits: [`DigitsCnn`] twice as wide (convolutions of 64 and 128 filters,
/// a 128-wide first Linear).
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct WideDigitsCnn {
    conv1: Conv2D<1, 64, 3, 1, 1>,   bn1: BatchNorm2D<64>,  relu1: ReLU,
    conv2: Conv2D<64, 128, 3, 1, 1>, bn2: BatchNorm2D<128>, relu2: ReLU,
    flatten: Flatten,
    fc1: Linear<8192, 128>, relu3: ReLU,
    fc2: Linear<128, 10>,
}

compress! {
    /// [`DigitsCnn`] with half of each convolution's filters removed (widths from the plan of
    /// zero filters at run time; the type fixes how many).
    pub PrunedDigits = DigitsCnn { prune(conv1 = 16, conv2 = 32) }
}

compress! {
    /// [`PrunedDigits`] with its BatchNorms folded into the convolutions.
    pub FoldedDigits = PrunedDigits { fold() }
}

compress! {
    /// [`FoldedDigits`] with `fc1` (2048 → 64) factorized at half its rank: 2048 → 32 → 64.
    pub SmallDigits = FoldedDigits { factorize(fc1 = 32) }
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

/// DESIGN.md's teacher for the 28×28 sets: SmallVgg with convolutions of 64, 64, 128 and 128
/// filters and a 512-wide first Linear.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [1, 28, 28])]
pub struct WideVgg {
    conv1: Conv2D<1, 64, 3, 1, 1>,    bn1: BatchNorm2D<64>,  relu1: ReLU,
    conv2: Conv2D<64, 64, 3, 1, 1>,   bn2: BatchNorm2D<64>,  relu2: ReLU, pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<64, 128, 3, 1, 1>,  bn3: BatchNorm2D<128>, relu3: ReLU,
    conv4: Conv2D<128, 128, 3, 1, 1>, bn4: BatchNorm2D<128>, relu4: ReLU, pool2: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<6272, 512>, relu5: ReLU,
    fc2: Linear<512, 10>,
}

compress! {
    /// [`SmallVgg`] with half of each convolution's filters removed: widths 16, 16, 32, 32.
    pub PrunedVgg = SmallVgg { prune(conv1 = 16, conv2 = 16, conv3 = 32, conv4 = 32) }
}

compress! {
    /// [`PrunedVgg`] with its BatchNorms folded into the convolutions.
    pub FoldedVgg = PrunedVgg { fold() }
}

compress! {
    /// [`FoldedVgg`] with `fc1` (1568 → 256) factorized at half its rank: 1568 → 128 → 256.
    pub SmallVggFactorized = FoldedVgg { factorize(fc1 = 128) }
}

/// The batch shape the digits models take.
pub type DigitsInput = (usize, Const<1>, Const<8>, Const<8>);
/// The batch shape the 28×28 models take.
pub type Mnist28Input = (usize, Const<1>, Const<28>, Const<28>);
