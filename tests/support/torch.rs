//! Models laid out as PyTorch modules, for loading PyTorch `state_dict`s (`tests/torch_import.rs`;
//! the fixtures come from `scripts/torch_fixture.py`). torchvision's ResNet-18 layout is in
//! [`super::resnet`] (`ResNet18`, `TinyResNet18`): its field names are torchvision's already.

use fasterai::prelude::*;

/// A VGG-style net as torchvision's `VGG` names its modules (`features.N`, `avgpool`,
/// `classifier.N`), at 3×16×16: conv-bn-relu-pool twice (8 and 16 filters), a 2×2 adaptive
/// average, then Linear 64 → 32, ReLU, Dropout, Linear 32 → 10. Our own files keep the field names.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible, Clone)]
#[compressible(input = [3, 16, 16])]
pub struct TinyVgg {
    #[torch = "features.0"] pub conv1: Conv2D<3, 8, 3, 1, 1>,  #[torch = "features.1"] pub bn1: BatchNorm2D<8>,
    pub relu1: ReLU, pub pool1: MaxPool2D<2, 2>,
    #[torch = "features.4"] pub conv2: Conv2D<8, 16, 3, 1, 1>, #[torch = "features.5"] pub bn2: BatchNorm2D<16>,
    pub relu2: ReLU, pub pool2: MaxPool2D<2, 2>,
    pub avgpool: AdaptiveAvgPool2D<2, 2>,
    pub flatten: Flatten,
    #[torch = "classifier.0"] pub fc1: Linear<64, 32>, pub relu3: ReLU, pub drop: Dropout,
    #[torch = "classifier.3"] pub fc2: Linear<32, 10>,
}
