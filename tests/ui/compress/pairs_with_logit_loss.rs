use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 8, 3, 1, 1>, #[tap] relu1: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc: Linear<128, 10>,
}

compress! {
    pub Distilled = Net { distill(teacher: Net, loss = SoftTarget(temperature = 3.0), pairs = "relu1 -> relu1") }
}

fn main() {}
