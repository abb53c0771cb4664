//! VGG16-BN, shared by the VGG16 example and the inference bench (included with `#[path]`).

use fasterai::prelude::*;

/// torchvision's VGG16-BN layout with 10 classes at 3×128×128 (134,309,962 parameters): the
/// architecture of the walkthrough's structural story and of the ONNX Runtime reference figures.
/// The `#[torch]` names are torchvision's (`features.N`, `classifier.N`), so its `vgg16_bn`
/// `state_dict` loads with `load_torch`.
#[rustfmt::skip] // one line per block of layers
#[derive(Compressible)]
#[compressible(input = [3, 128, 128])]
pub struct Vgg16Bn {
    #[torch = "features.0"] pub conv1: Conv2D<3, 64, 3, 1, 1>,     #[torch = "features.1"] pub bn1: BatchNorm2D<64>,   pub relu1: ReLU,
    #[torch = "features.3"] pub conv2: Conv2D<64, 64, 3, 1, 1>,    #[torch = "features.4"] pub bn2: BatchNorm2D<64>,   pub relu2: ReLU,  pub pool1: MaxPool2D<2, 2>,
    #[torch = "features.7"] pub conv3: Conv2D<64, 128, 3, 1, 1>,   #[torch = "features.8"] pub bn3: BatchNorm2D<128>,  pub relu3: ReLU,
    #[torch = "features.10"] pub conv4: Conv2D<128, 128, 3, 1, 1>,  #[torch = "features.11"] pub bn4: BatchNorm2D<128>,  pub relu4: ReLU,  pub pool2: MaxPool2D<2, 2>,
    #[torch = "features.14"] pub conv5: Conv2D<128, 256, 3, 1, 1>,  #[torch = "features.15"] pub bn5: BatchNorm2D<256>,  pub relu5: ReLU,
    #[torch = "features.17"] pub conv6: Conv2D<256, 256, 3, 1, 1>,  #[torch = "features.18"] pub bn6: BatchNorm2D<256>,  pub relu6: ReLU,
    #[torch = "features.20"] pub conv7: Conv2D<256, 256, 3, 1, 1>,  #[torch = "features.21"] pub bn7: BatchNorm2D<256>,  pub relu7: ReLU,  pub pool3: MaxPool2D<2, 2>,
    #[torch = "features.24"] pub conv8: Conv2D<256, 512, 3, 1, 1>,  #[torch = "features.25"] pub bn8: BatchNorm2D<512>,  pub relu8: ReLU,
    #[torch = "features.27"] pub conv9: Conv2D<512, 512, 3, 1, 1>,  #[torch = "features.28"] pub bn9: BatchNorm2D<512>,  pub relu9: ReLU,
    #[torch = "features.30"] pub conv10: Conv2D<512, 512, 3, 1, 1>, #[torch = "features.31"] pub bn10: BatchNorm2D<512>, pub relu10: ReLU, pub pool4: MaxPool2D<2, 2>,
    #[torch = "features.34"] pub conv11: Conv2D<512, 512, 3, 1, 1>, #[torch = "features.35"] pub bn11: BatchNorm2D<512>, pub relu11: ReLU,
    #[torch = "features.37"] pub conv12: Conv2D<512, 512, 3, 1, 1>, #[torch = "features.38"] pub bn12: BatchNorm2D<512>, pub relu12: ReLU,
    #[torch = "features.40"] pub conv13: Conv2D<512, 512, 3, 1, 1>, #[torch = "features.41"] pub bn13: BatchNorm2D<512>, pub relu13: ReLU, pub pool5: MaxPool2D<2, 2>,
    pub avgpool: AdaptiveAvgPool2D<7, 7>,
    pub flatten: Flatten,
    #[torch = "classifier.0"] pub fc1: Linear<25088, 4096>, pub relu_fc1: ReLU, pub drop1: Dropout,
    #[torch = "classifier.3"] pub fc2: Linear<4096, 4096>,  pub relu_fc2: ReLU, pub drop2: Dropout,
    #[torch = "classifier.6"] pub fc3: Linear<4096, 10>,
}
