use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Inner {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
}

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Outer {
    #[block]
    inner: Inner,
    bn1: BatchNorm2D<16>,
}

fn main() {}
