//! `compress!`'s generated `from_source` for a `fold()` schedule: BatchNorms merged into the
//! convolutions before them, outputs within 1e-4 in eval mode, safetensors round trip.

#[macro_use]
mod support;

use fasterai::dfdx::shapes::Const;
use fasterai::dfdx::tensor::SampleTensor;
use fasterai::prelude::*;
use support::models::SmallVgg;
use rand::{rngs::StdRng, Rng, SeedableRng};

compress! {
    /// SmallVgg with its BatchNorms folded.
    pub Folded = SmallVgg { fold() }
}

/// Random γ, β, running mean and variance, as after training.
fn randomize<const C: usize>(dev: &Cpu, rng: &mut StdRng, bn: &mut BatchNorm2D<C>) {
    let mut draw = |low: f32, high: f32| dev.tensor_from_vec((0..C).map(|_| rng.gen_range(low..high)).collect(), (Const::<C>,));
    bn.weight = draw(0.5, 1.5);
    bn.bias = draw(-0.5, 0.5);
    bn.running_mean = draw(-0.3, 0.3);
    bn.running_var = draw(0.5, 2.0);
}

fn trained(dev: &Cpu) -> SmallVgg {
    let mut rng = StdRng::seed_from_u64(7);
    let mut model = dev.build_module::<SmallVgg, f32>();
    randomize(dev, &mut rng, &mut model.bn1);
    randomize(dev, &mut rng, &mut model.bn2);
    randomize(dev, &mut rng, &mut model.bn3);
    randomize(dev, &mut rng, &mut model.bn4);
    model
}

#[test]
fn folding_changes_outputs_by_at_most_1e_4() {
    let dev = Cpu::default();
    let model = trained(&dev);
    let folded = Folded::from_source(&model).unwrap();
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.sample_normal_like(&(4, Const, Const, Const));
    let before = model.forward(x.clone()).as_vec();
    let after = folded.forward(x).as_vec();
    let worst = before.iter().zip(&after).map(|(b, a)| (b - a).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4, "largest difference {worst}");
    assert!(before.iter().any(|v| v.abs() > 1e-3), "outputs are not all near zero");
}

#[test]
fn the_folded_type_round_trips_through_safetensors() {
    let dev = Cpu::default();
    let folded = Folded::from_source(&trained(&dev)).unwrap();
    let loaded = support::safetensors::round_trip(&folded, dev.build_module::<Folded, f32>(), "folded");
    assert_eq!(loaded.conv3.bias.as_vec(), folded.conv3.bias.as_vec());
    assert_eq!(loaded.conv4.weight.as_vec(), folded.conv4.weight.as_vec());
}
