//! Residual networks the integration tests share: ResNet-18 as torchvision lays it out, and a
//! CIFAR-style ResNet small enough to train on the 8×8 digits in a test.

use fasterai::prelude::*;

/// torchvision's `BasicBlock` that keeps the width: two 3×3 convs, the input added back.
macro_rules! basic_block {
    ($name:ident, $c:literal) => {
        #[doc = concat!("A basic block of ", stringify!($c), " channels with an identity skip.")]
        #[rustfmt::skip]
        #[derive(Compressible, Clone)]
        #[compressible(residual)]
        pub struct $name {
            pub conv1: UnbiasedConv2D<$c, $c, 3, 1, 1>, pub bn1: BatchNorm2D<$c>, pub relu: ReLU,
            pub conv2: UnbiasedConv2D<$c, $c, 3, 1, 1>, pub bn2: BatchNorm2D<$c>,
        }
    };
}

/// torchvision's `BasicBlock` that halves the map and widens it: its shortcut is a strided 1×1 conv.
macro_rules! down_block {
    ($name:ident, $i:literal, $o:literal) => {
        #[doc = concat!("A basic block from ", stringify!($i), " to ", stringify!($o), " channels at stride 2.")]
        #[rustfmt::skip]
        #[derive(Compressible, Clone)]
        #[compressible(residual)]
        pub struct $name {
            pub conv1: UnbiasedConv2D<$i, $o, 3, 2, 1>, pub bn1: BatchNorm2D<$o>, pub relu: ReLU,
            pub conv2: UnbiasedConv2D<$o, $o, 3, 1, 1>, pub bn2: BatchNorm2D<$o>,
            #[shortcut] pub downsample: UnbiasedConv2D<$i, $o, 1, 2>,
            #[shortcut] pub downsample_bn: BatchNorm2D<$o>,
        }
    };
}

basic_block!(Basic64, 64);
down_block!(Down128, 64, 128);
basic_block!(Basic128, 128);
down_block!(Down256, 128, 256);
basic_block!(Basic256, 256);
down_block!(Down512, 256, 512);
basic_block!(Basic512, 512);

/// torchvision's ResNet-18 with 10 classes on 3×224×224 (11,181,642 parameters).
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [3, 224, 224])]
pub struct ResNet18 {
    pub conv1: UnbiasedConv2D<3, 64, 7, 2, 3>, pub bn1: BatchNorm2D<64>, pub relu: ReLU,
    pub maxpool: MaxPool2D<3, 2, 1>,
    #[block] pub layer1: (Basic64, Basic64),
    #[block] pub layer2: (Down128, Basic128),
    #[block] pub layer3: (Down256, Basic256),
    #[block] pub layer4: (Down512, Basic512),
    pub avgpool: GlobalAvgPool,
    pub fc: Linear<512, 10>,
}

basic_block!(Basic8, 8);
down_block!(Down16, 8, 16);

/// A small ResNet for the 8×8 digits: a 3×3 stem of 8 filters, two stages of basic blocks (8 then
/// 16 channels, the second at stride 2), a global average and a classifier. `layer2.1.conv2` is tapped.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsResNet {
    pub conv1: UnbiasedConv2D<1, 8, 3, 1, 1>, pub bn1: BatchNorm2D<8>, pub relu: ReLU,
    #[block] pub layer1: (Basic8, Basic8),
    #[block] pub layer2: (Down16, TappedBasic16),
    pub avgpool: GlobalAvgPool,
    pub fc: Linear<16, 10>,
}

/// A basic block of 16 channels with its second conv tapped, for feature distillation inside a block.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct TappedBasic16 {
    pub conv1: UnbiasedConv2D<16, 16, 3, 1, 1>, pub bn1: BatchNorm2D<16>, pub relu: ReLU,
    #[tap] pub conv2: UnbiasedConv2D<16, 16, 3, 1, 1>, pub bn2: BatchNorm2D<16>,
}
