// A stem conv and two identity blocks of 16 channels, for the residual `compress!` cases whose
// mistake is in the block (included as `include!("../models/stem_resnet.rs");`). `conv1` and each
// block's conv add into the same channels: one channel group.

include!("basic16.rs");

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])]
pub struct Net {
    conv1: Conv2D<1, 16, 3, 1, 1>,
    #[block]
    layer1: (Basic16, Basic16),
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}
