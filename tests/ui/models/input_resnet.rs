// One identity block straight on the model's 16-channel input, for the residual `compress!` cases
// (included as `include!("../models/input_resnet.rs");`): the block's conv adds into the input, so
// nothing but the classifier has channels of its own.

include!("basic16.rs");

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer1: Basic16,
    gap: GlobalAvgPool,
    fc: Linear<16, 10>,
}
