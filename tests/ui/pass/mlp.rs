// A plain MLP on flat features: dfdx layers only.
use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [64])]
pub struct Mlp {
    fc1: Linear<64, 32>,
    bn1: BatchNorm1D<32>,
    relu1: ReLU,
    drop1: Dropout,
    #[tap]
    fc2: Linear<32, 10>,
}

fn main() {
    assert_eq!(Mlp::num_params(), 64 * 32 + 32 + 2 * 32 + 32 * 10 + 10);
    let dev = Cpu::default();
    let model = dev.build_module::<Mlp, f32>();
    let x: Tensor<(usize, fasterai::dfdx::shapes::Const<64>), f32, Cpu> =
        fasterai::dfdx::tensor::ZerosTensor::zeros_like(&dev, &(3, fasterai::dfdx::shapes::Const));
    let y: Tensor<(usize, fasterai::dfdx::shapes::Const<10>), f32, Cpu> = model.forward(x.clone());
    assert_eq!(fasterai::dfdx::shapes::HasShape::shape(&y).0, 3);
    let (_, taps): (_, MlpTaps<NoneTape>) = model.forward_with_taps(x).unwrap();
    assert_eq!(fasterai::dfdx::shapes::HasShape::shape(&taps.fc2).0, 3);
}
