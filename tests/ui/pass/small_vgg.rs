// DESIGN.md's SmallVgg on 1x28x28: 871,018 parameters, as the integration tests declare it.
use fasterai::dfdx::shapes::{Const, HasShape};
use fasterai::dfdx::tensor::ZerosTensor;
use fasterai::prelude::*;

#[path = "../../support/models.rs"]
#[allow(dead_code)]
mod models;
use models::SmallVgg;

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
