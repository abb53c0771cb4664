//! Residual blocks by path, a block used before its definition, a tuple of blocks and a single
//! one, and blocks declared by a `macro_rules!`.
use fasterai::prelude::*;

mod blocks {
    use fasterai::prelude::*;

    #[derive(Compressible, Clone)]
    #[compressible(residual)]
    pub struct Down16 {
        pub conv1: UnbiasedConv2D<8, 16, 3, 2, 1>,
        pub bn1: BatchNorm2D<16>,
        pub relu: ReLU,
        pub conv2: UnbiasedConv2D<16, 16, 3, 1, 1>,
        pub bn2: BatchNorm2D<16>,
        #[shortcut]
        pub downsample: UnbiasedConv2D<8, 16, 1, 2>,
        #[shortcut]
        pub downsample_bn: BatchNorm2D<16>,
    }
}

#[allow(unused_imports)]
use blocks::Down16 as _;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: UnbiasedConv2D<1, 8, 3, 1, 1>,
    #[block]
    layer1: (Basic8, Basic8),
    #[block]
    layer2: blocks::Down16,
    #[block]
    layer3: Basic16,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}

macro_rules! basic {
    ($name:ident, $c:literal) => {
        #[derive(Compressible, Clone)]
        #[compressible(residual)]
        pub struct $name {
            conv1: UnbiasedConv2D<$c, $c, 3, 1, 1>,
            bn1: BatchNorm2D<$c>,
        }
    };
}

basic!(Basic8, 8);
basic!(Basic16, 16);

fn main() {
    let model = Cpu::default().build_module::<Net, f32>();
    let x: Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu> = Cpu::default().zeros_like(&(2, Const, Const, Const));
    let y = model.forward(x);
    assert_eq!(y.shape().0, 2);
    assert_eq!(Net::LAYERS.iter().filter(|layer| layer.kind == LayerKindInfo::Fork).count(), 4);
}
