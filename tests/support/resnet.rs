//! Residual networks the integration tests share: ResNet-18 as torchvision lays it out, and a
//! CIFAR-style ResNet small enough to train on the 8×8 digits in a test.

use fasterai::prelude::*;

/// torchvision's `BasicBlock`: two 3×3 convs (the first at `stride`), the input added back, or, when
/// shortcut field names are given, its strided 1×1 conv and batch norm, which torchvision names
/// `downsample.0` and `downsample.1` (so a PyTorch `state_dict` loads: `layer2.0.downsample.1.running_var`).
macro_rules! basic_block {
    ($name:ident, $i:literal -> $o:literal, stride $s:literal $(, $down:ident, $down_bn:ident)?) => {
        #[doc = concat!("A basic block from ", stringify!($i), " to ", stringify!($o), " channels at stride ", stringify!($s), ".")]
        #[rustfmt::skip]
        #[derive(Compressible, Clone)]
        #[compressible(residual)]
        pub struct $name {
            pub conv1: UnbiasedConv2D<$i, $o, 3, $s, 1>, pub bn1: BatchNorm2D<$o>, pub relu: ReLU,
            pub conv2: UnbiasedConv2D<$o, $o, 3, 1, 1>, pub bn2: BatchNorm2D<$o>,
            $(
                #[shortcut] #[torch = "downsample.0"] pub $down: UnbiasedConv2D<$i, $o, 1, $s>,
                #[shortcut] #[torch = "downsample.1"] pub $down_bn: BatchNorm2D<$o>,
            )?
        }
    };
}

basic_block!(Basic64, 64 -> 64, stride 1);
basic_block!(Down128, 64 -> 128, stride 2, downsample, downsample_bn);
basic_block!(Basic128, 128 -> 128, stride 1);
basic_block!(Down256, 128 -> 256, stride 2, downsample, downsample_bn);
basic_block!(Basic256, 256 -> 256, stride 1);
basic_block!(Down512, 256 -> 512, stride 2, downsample, downsample_bn);
basic_block!(Basic512, 512 -> 512, stride 1);

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

basic_block!(Basic8, 8 -> 8, stride 1);
basic_block!(Down16, 8 -> 16, stride 2, downsample, downsample_bn);

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

basic_block!(Basic16, 16 -> 16, stride 1);
basic_block!(Down32, 16 -> 32, stride 2, downsample, downsample_bn);
basic_block!(Down64, 32 -> 64, stride 2, downsample, downsample_bn);

/// A ResNet-8 for the 28×28 sets (the resnet example's accuracy story on Fashion-MNIST): a 3×3 stem
/// of 16 filters, three stages of one basic block (16, 32, 64 channels, the last two at stride 2),
/// a global average and a classifier; 77,754 parameters, 9.3 M multiply-adds per image.
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [1, 28, 28])]
pub struct ResNet8 {
    pub conv1: UnbiasedConv2D<1, 16, 3, 1, 1>, pub bn1: BatchNorm2D<16>, pub relu: ReLU,
    #[block] pub layer1: Basic16,
    #[block] pub layer2: Down32,
    #[block] pub layer3: Down64,
    pub avgpool: GlobalAvgPool,
    pub fc: Linear<64, 10>,
}

basic_block!(Basic4, 4 -> 4, stride 1);
basic_block!(Down8, 4 -> 8, stride 2, downsample, downsample_bn);
basic_block!(Basic32, 32 -> 32, stride 1);

/// torchvision's ResNet-18 layout (its `ResNet` class with `BasicBlock`s `[2, 2, 2, 2]`) at 1/16 of
/// the width (4, 8, 16, 32 channels), 10 classes, on 3×32×32: the model of the PyTorch fixture
/// `tests/data/torch/tiny_resnet18.safetensors` (`scripts/torch_fixture.py`).
#[rustfmt::skip]
#[derive(Compressible, Clone)]
#[compressible(input = [3, 32, 32])]
pub struct TinyResNet18 {
    pub conv1: UnbiasedConv2D<3, 4, 7, 2, 3>, pub bn1: BatchNorm2D<4>, pub relu: ReLU,
    pub maxpool: MaxPool2D<3, 2, 1>,
    #[block] pub layer1: (Basic4, Basic4),
    #[block] pub layer2: (Down8, Basic8),
    #[block] pub layer3: (Down16, Basic16),
    #[block] pub layer4: (Down32, Basic32),
    pub avgpool: GlobalAvgPool,
    pub fc: Linear<32, 10>,
}
