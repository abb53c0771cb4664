// `compress!` names its model like any Rust code: before the struct in the same module, by path,
// or through a `use`; a type alias of a layer with `#[layer(..)]`, and dfdx's full spelling.
use fasterai::prelude::*;

compress! {
    /// Declared before its model.
    pub EarlySmall = Net { prune(50%) }
}

#[derive(Compressible, Clone)]
#[compressible(input = [16])]
pub struct Net {
    fc1: Linear<16, 32>, relu1: ReLU,
    fc2: Linear<32, 10>,
}

mod models {
    use fasterai::prelude::*;

    type Hidden = Linear<16, 32>;

    #[derive(Compressible, Clone)]
    #[compressible(input = [16])]
    pub struct Mlp {
        #[layer(Linear<16, 32>)]
        pub fc1: Hidden,
        pub relu1: ReLU,
        pub fc2: fasterai::dfdx::nn::modules::Linear<32, 10, f32, Cpu>,
    }
}

compress! {
    /// By path.
    pub PathSmall = models::Mlp { prune(50%) }
}

mod user {
    use super::models::Mlp;
    use fasterai::prelude::*;

    compress! {
        /// Through a `use`.
        pub UsedSmall = Mlp { factorize(fc1 = 4) }
    }
}

fn main() {
    assert_eq!(EarlySmall::LAYERS[0].params, 16 * 16 + 16);
    assert_eq!(PathSmall::LAYERS[2].params, 16 * 10 + 10);
    assert_eq!(user::UsedSmall::LAYERS.len(), 4);
}
