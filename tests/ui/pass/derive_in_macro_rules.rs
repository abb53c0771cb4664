// `#[derive(Compressible)]` inside a `macro_rules!` expansion: its `self` and locals stay its own.
use fasterai::prelude::*;

macro_rules! mlp {
    ($name:ident, $hidden:literal) => {
        #[derive(Compressible, Clone)]
        #[compressible(input = [8])]
        pub struct $name {
            fc1: Linear<8, $hidden>,
            bn1: BatchNorm1D<$hidden>,
            relu1: ReLU,
            #[tap]
            fc2: Linear<$hidden, 2>,
        }
    };
}

mlp!(Small, 4);
mlp!(Wide, 16);

compress! {
    pub Narrow = Wide { prune(50%), fold() }
}

fn main() {
    let dev = Cpu::default();
    let small = dev.build_module::<Small, f32>();
    let x: Tensor<(usize, fasterai::dfdx::shapes::Const<8>), f32, Cpu> =
        fasterai::dfdx::tensor::ZerosTensor::zeros_like(&dev, &(3, fasterai::dfdx::shapes::Const));
    let y = small.forward(x.clone());
    assert_eq!(fasterai::dfdx::shapes::HasShape::shape(&y).0, 3);
    let mut wide = dev.build_module::<Wide, f32>();
    let _ = wide.forward_mut(x.clone());
    assert_eq!(Narrow::LAYERS.len(), 3, "fc1, relu1, fc2: bn1 folded");
    assert_eq!(Wide::num_params(), 8 * 16 + 16 + 2 * 16 + 16 * 2 + 2);
}
