//! The pooling layers and `Flatten` from the facade's prelude, inside an ordinary dfdx training loop.

use fasterai::dfdx::losses::cross_entropy_with_logits_loss;
use fasterai::dfdx::nn::ZeroGrads;
use fasterai::dfdx::optim::{Adam, AdamConfig, Optimizer};
use fasterai::dfdx::prelude::{Backward, Const, HasShape, OnesTensor, TensorFromVec, Trace};
use fasterai::nn::NnError;
use fasterai::prelude::*;

const SIDE: usize = 8;

/// 16 one-channel 8×8 images: class 0 has one bright pixel in the top-left quadrant, class 1 in the
/// bottom-right one, on a faint checkerboard so no input is all zeros.
fn toy_images() -> (Vec<f32>, Vec<usize>) {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..16 {
        let class = i % 2;
        let (row, col) = ((i / 2) % 4 + 4 * class, (i * 3 / 2) % 4 + 4 * class);
        for h in 0..SIDE {
            for w in 0..SIDE {
                let checker = if (h + w) % 2 == 0 { 0.05 } else { 0.0 };
                pixels.push(if (h, w) == (row, col) { 1.0 } else { checker });
            }
        }
        labels.push(class);
    }
    (pixels, labels)
}

/// MaxPool2D<4> → Flatten::flatten_to::<4> → Linear<4, 2>, trained with dfdx's Adam, separates the
/// two classes; the gradient flows through both custom ops to the Linear's parameters.
#[test]
fn pooled_features_train_a_linear_classifier() -> Result<(), NnError> {
    let dev = Cpu::default();
    let (pixels, labels) = toy_images();
    let images: Tensor<(usize, Const<1>, usize, usize), f32, Cpu> =
        dev.tensor_from_vec(pixels, (16, Const, SIDE, SIDE));
    let targets: Vec<f32> = labels
        .iter()
        .flat_map(|&c| [(c == 0) as u8 as f32, (c == 1) as u8 as f32])
        .collect();
    let targets: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(targets, (16, Const));

    let mut fc: Linear<4, 2> = BuildModule::build(&dev);
    let mut grads = fc.alloc_grads();
    let mut adam = Adam::new(
        &fc,
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let pool = MaxPool2D::<4>;
    for _ in 0..150 {
        let pooled = pool.try_forward(images.clone().traced(grads))?;
        let logits = fc.forward(Flatten::flatten_to::<4>(pooled)?);
        let loss = cross_entropy_with_logits_loss(logits, targets.clone());
        grads = loss.backward();
        adam.update(&mut fc, &grads)
            .expect("every parameter has a gradient");
        fc.zero_grads(&mut grads);
    }

    let logits = fc
        .forward(Flatten::flatten_to::<4>(pool.try_forward(images)?)?)
        .as_vec();
    let predicted: Vec<usize> = logits.chunks(2).map(|l| (l[1] > l[0]) as usize).collect();
    assert_eq!(predicted, labels);
    Ok(())
}

/// Every pooling layer is a zero-parameter dfdx module built like any other.
#[test]
fn pooling_layers_build_and_hold_no_parameters() {
    let dev = Cpu::default();
    let x: Tensor<(usize, Const<3>, usize, usize), f32, Cpu> = dev.ones_like(&(2, Const, 6, 6));
    let max = dev.build_module::<MaxPool2D<3, 2, 1>, f32>();
    let avg = dev.build_module::<AvgPool2D<2>, f32>();
    let adaptive = dev.build_module::<AdaptiveAvgPool2D<7, 7>, f32>();
    let global = dev.build_module::<GlobalAvgPool, f32>();
    let flatten = dev.build_module::<Flatten, f32>();
    assert_eq!(
        *max.try_forward(x.clone()).unwrap().shape(),
        (2, Const::<3>, 3, 3)
    );
    assert_eq!(
        *avg.try_forward(x.clone()).unwrap().shape(),
        (2, Const::<3>, 3, 3)
    );
    assert_eq!(
        *adaptive.try_forward(x.clone()).unwrap().shape(),
        (2, Const::<3>, 7, 7)
    );
    assert_eq!(
        global.try_forward(x.clone()).unwrap().as_vec(),
        vec![1.0; 6]
    );
    assert_eq!(*flatten.try_forward(x).unwrap().shape(), (2, 108));
}
