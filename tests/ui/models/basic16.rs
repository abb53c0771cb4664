// A basic residual block of 16 channels with an identity skip, for the residual UI cases whose
// mistake is elsewhere (included as `include!("../models/basic16.rs");`, as if written there).

#[derive(Compressible, Clone)]
#[compressible(residual)]
pub struct Basic16 {
    conv1: UnbiasedConv2D<16, 16, 3, 1, 1>,
    bn1: BatchNorm2D<16>,
}
