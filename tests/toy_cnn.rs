//! A small CNN built from `Conv2D` learns a separable toy problem to 100% training accuracy:
//! 8x8 images holding one bright bar, vertical (class 0) or horizontal (class 1), at a random
//! place, on a noisy background.
//!
//! Conv2D(1→4, 3x3, pad 1) → ReLU → Conv2D(4→8, 3x3, stride 2, pad 1) → ReLU → reshape → Linear(128→2),
//! trained with dfdx's Adam on the full batch.

use fasterai::dfdx::nn::{ModuleVisitor, ZeroGrads};
use fasterai::dfdx::optim::{Adam, AdamConfig, Optimizer};
use fasterai::dfdx::prelude::*;
use fasterai::nn::NnError;
use fasterai::prelude::{Conv2D, Linear};
use rand::{rngs::SmallRng, Rng, SeedableRng};

const SIDE: usize = 8;
const IMAGES: usize = 64;

struct ToyCnn<E: Dtype = f32, D: Storage<E> = Cpu> {
    conv1: Conv2D<1, 4, 3, 1, 1, E, D>,
    conv2: Conv2D<4, 8, 3, 2, 1, E, D>,
    fc: Linear<128, 2, E, D>,
}

impl TensorCollection<f32, Cpu> for ToyCnn {
    type To<E2: Dtype, D2: Device<E2>> = ToyCnn<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
            ),
            |(conv1, conv2, fc)| ToyCnn { conv1, conv2, fc },
        )
    }
}

impl ToyCnn {
    fn logits<T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<(usize, Const<1>, usize, usize), f32, Cpu, T>,
    ) -> Result<Tensor<(usize, Const<2>), f32, Cpu, T>, NnError> {
        let batch = x.shape().0;
        let h = self.conv1.try_forward(x)?.try_relu()?;
        let h = self.conv2.try_forward(h)?.try_relu()?;
        let flat = h.try_reshape_like(&(batch, Const::<128>))?;
        Ok(self.fc.try_forward(flat)?)
    }
}

/// Images and one-hot labels of the bar problem.
fn bar_images(rng: &mut SmallRng) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let mut pixels = Vec::with_capacity(IMAGES * SIDE * SIDE);
    let mut one_hot = Vec::with_capacity(IMAGES * 2);
    let mut labels = Vec::with_capacity(IMAGES);
    for i in 0..IMAGES {
        let class = i % 2;
        let at = rng.gen_range(1..SIDE - 1);
        for r in 0..SIDE {
            for c in 0..SIDE {
                let on_bar = if class == 0 { c == at } else { r == at };
                pixels.push(if on_bar { 1.0 } else { 0.0 } + rng.gen_range(-0.2..0.2));
            }
        }
        one_hot.extend(if class == 0 { [1.0, 0.0] } else { [0.0, 1.0] });
        labels.push(class);
    }
    (pixels, one_hot, labels)
}

fn accuracy(logits: &[f32], labels: &[usize]) -> f32 {
    let correct = logits
        .chunks_exact(2)
        .zip(labels)
        .filter(|(l, &y)| usize::from(l[1] > l[0]) == y)
        .count();
    correct as f32 / labels.len() as f32
}

#[test]
fn small_cnn_reaches_full_training_accuracy_on_bars() -> Result<(), NnError> {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = SmallRng::seed_from_u64(42);
    let (pixels, one_hot, labels) = bar_images(&mut rng);
    let x = dev.tensor_from_vec(pixels, (IMAGES, Const::<1>, SIDE, SIDE));
    let y = dev.tensor_from_vec(one_hot, (IMAGES, Const::<2>));

    let mut model = ToyCnn {
        conv1: dev.build_module::<Conv2D<1, 4, 3, 1, 1>, f32>(),
        conv2: dev.build_module::<Conv2D<4, 8, 3, 2, 1>, f32>(),
        fc: BuildModule::build(&dev),
    };
    let start = accuracy(&model.logits(x.clone())?.as_vec(), &labels);
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    let mut first_loss = None;
    let mut last_loss = 0.0;
    for _ in 0..300 {
        let logits = model.logits(x.clone().traced(grads))?;
        let loss = cross_entropy_with_logits_loss(logits, y.clone());
        last_loss = loss.array();
        first_loss.get_or_insert(last_loss);
        grads = loss.backward();
        opt.update(&mut model, &grads)
            .expect("every parameter has a gradient");
        model.zero_grads(&mut grads);
    }
    let end = accuracy(&model.logits(x)?.as_vec(), &labels);
    assert!(
        last_loss < 0.1 * first_loss.unwrap(),
        "loss {first_loss:?} -> {last_loss}"
    );
    assert_eq!(end, 1.0, "training accuracy {start} -> {end}");
    Ok(())
}
