// A net for the 8x8 digits set: strided-free convs, global pooling, a tapped feature map.
use fasterai::dfdx::shapes::{Const, HasShape};
use fasterai::dfdx::tensor::ZerosTensor;
use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct DigitsNet {
    conv1: Conv2D<1, 16, 3, 1, 1>,
    bn1: BatchNorm2D<16>,
    relu1: ReLU,
    pool1: MaxPool2D<2>,
    conv2: UnbiasedConv2D<16, 32, 3, 1, 1>,
    bn2: BatchNorm2D<32>,
    #[tap]
    relu2: ReLU,
    pool2: AvgPool2D<2>,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}

fn main() {
    assert_eq!(DigitsNet::layer("pool1").unwrap().output, ShapeInfo::Chw { c: 16, h: 4, w: 4 });
    assert_eq!(DigitsNet::layer("gap").unwrap().output, ShapeInfo::Flat { n: 32 });
    assert_eq!(DigitsNet::num_params(), (16 * 9 + 16) + 32 + 16 * 32 * 9 + 64 + (32 * 10 + 10));
    let dev = Cpu::default();
    let model = dev.build_module::<DigitsNet, f32>();
    let x: Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu> = dev.zeros_like(&(5, Const, Const, Const));
    let (y, taps) = model.forward_with_taps(x).unwrap();
    let _: &Tensor<(usize, Const<32>, Const<4>, Const<4>), f32, Cpu> = &taps.relu2;
    assert_eq!(y.shape().0, 5);
}
