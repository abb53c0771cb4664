// The stub impls emitted beside the error keep the uses in main from adding errors of their own.
use fasterai::prelude::*;

#[derive(Compressible)]
struct Mlp {
    fc1: Linear<4, 8>,
    relu: ReLU,
    fc2: Linear<8, 2>,
}

fn main() {
    let dev = Cpu::default();
    let model = dev.build_module::<Mlp, f32>();
    let _ = Mlp::num_params();
    let _ = model.forward(0u8);
}
