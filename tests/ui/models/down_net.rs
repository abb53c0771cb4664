// A model on 16×8×8 maps holding one block `Down` (16 → 32 channels at stride 2) that the case
// including it declares: the residual UI cases about a shortcut's mistake.

#[derive(Compressible, Clone)]
#[compressible(input = [16, 8, 8])]
pub struct Net {
    #[block]
    layer2: Down,
    gap: GlobalAvgPool,
    fc: Linear<32, 10>,
}
