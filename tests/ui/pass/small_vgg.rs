// DESIGN.md's SmallVgg on 1x28x28: 871,018 parameters.
use fasterai::dfdx::shapes::{Const, HasShape};
use fasterai::dfdx::tensor::ZerosTensor;
use fasterai::prelude::*;

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

fn main() {
    assert_eq!(SmallVgg::num_params(), 871_018);
    assert_eq!(SmallVgg::layer("pool2").unwrap().output, ShapeInfo::Chw { c: 64, h: 7, w: 7 });
    let last_conv = SmallVgg::COUPLINGS.iter().find(|c| c.producer == "conv4").unwrap();
    assert_eq!((last_conv.batch_norm, last_conv.consumer, last_conv.group), (Some("bn4"), "fc1", 49));

    let dev = Cpu::default();
    let model = dev.build_module::<SmallVgg, f32>();
    assert_eq!(fasterai::dfdx::nn::NumParams::num_trainable_params(&model), 871_018);
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.zeros_like(&(2, Const, Const, Const));
    let y: Tensor<(usize, Const<10>), f32, Cpu> = model.forward(x);
    assert_eq!(y.shape().0, 2);
}
