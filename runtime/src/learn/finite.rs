//! The learner's guards against silent divergence: the gradients after every backward pass and
//! the weights after every epoch must be finite, or `fit` stops naming the tensor, epoch and batch.
//!
//! The loss alone does not catch everything: a gradient can overflow while the loss is finite,
//! and the optimizer would then write NaN into the weights. The gradient walk reads the gradients in
//! place (no copy), the weight walk copies one tensor at a time; on DESIGN.md's SmallVgg the gradient walk costs well under 1% of a training step.

use dfdx::nn::TensorCollection;
use dfdx::prelude::{Cpu, Gradients};
use dfdx::tensor::CpuError;

use crate::nn::walk::{walk_gradients, walk_tensors};

/// The first value that is not finite: the tensor's name, the flat index and the value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NonFinite {
    pub(crate) tensor: String,
    pub(crate) index: usize,
    pub(crate) value: f32,
}

fn first_non_finite(name: &str, values: &[f32]) -> Option<NonFinite> {
    // A sum is finite iff every term is (overflow aside), and summing vectorizes; look for the
    // culprit only when it is not.
    if values.iter().sum::<f32>().is_finite() {
        return None;
    }
    let index = values.iter().position(|v| !v.is_finite())?;
    Some(NonFinite { tensor: name.to_string(), index, value: values[index] })
}

/// The first non-finite gradient of `model`'s trainable tensors in `grads`, if any.
pub(crate) fn non_finite_gradient<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
) -> Result<Option<NonFinite>, CpuError> {
    // Trainable tensors only (BatchNorm statistics have no gradient), and none after the first find.
    let mut found = None;
    let searching = std::cell::Cell::new(true);
    walk_gradients(model, grads, |_, trainable| trainable && searching.get(), |name, gradient| {
        found = first_non_finite(&name, gradient);
        searching.set(found.is_none());
    })?;
    Ok(found)
}

/// The first non-finite value among `model`'s tensors, if any.
pub(crate) fn non_finite_weight<M: TensorCollection<f32, Cpu>>(model: &M) -> Result<Option<NonFinite>, CpuError> {
    let mut found = None;
    walk_tensors::<f32, Cpu, M>(model, |t| {
        if found.is_none() {
            found = first_non_finite(&t.name, &t.values());
        }
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn the_first_bad_value_is_named() {
        assert_eq!(first_non_finite("w", &[1.0, 2.0]), None);
        let found = first_non_finite("w", &[1.0, f32::INFINITY, f32::NAN]).unwrap();
        assert_eq!((found.tensor.as_str(), found.index), ("w", 1));
        // A sum that overflows with finite terms is not a finding.
        assert_eq!(first_non_finite("w", &[f32::MAX, f32::MAX]), None);
    }

    #[test]
    fn weights_and_gradients_are_walked_by_name() {
        let dev = Cpu::seed_from_u64(0);
        let mut model: (Linear<2, 3>, Linear<3, 1>) = BuildModule::build(&dev);
        assert_eq!(non_finite_weight(&model).unwrap(), None);
        let mut bias = model.1.bias.as_vec();
        bias[0] = f32::NAN;
        model.1.bias = dev.tensor_from_vec(bias, (Const::<1>,));
        let found = non_finite_weight(&model).unwrap().unwrap();
        assert_eq!((found.tensor.as_str(), found.index), ("1.bias", 0));

        let model: (Linear<2, 3>, Linear<3, 1>) = BuildModule::build(&dev);
        let x = dev.tensor([[1.0f32, f32::INFINITY]]);
        let mut grads = model.forward(x.leaky_trace()).sum().backward();
        let found = non_finite_gradient(&model, &mut grads).unwrap().unwrap();
        assert_eq!(found.tensor, "0.weight");
    }

    // The learner's guards, end to end on a two-layer ReLU network.
    use crate::data::{DataLoaders, Dataset};
    use crate::learn::{Callback, Context, LearnError, Learner, Output};
    use crate::nn::{Linear, ReLU};

    type Net = (Linear<2, 4>, ReLU, Linear<4, 2>);
    type Flat2 = (usize, Const<2>);

    fn learner(model: Net) -> Learner<Net, Flat2, 2> {
        let points: Vec<f32> = (0..16).flat_map(|i| [(i % 4) as f32 - 1.5, (i / 4) as f32 - 1.5]).collect();
        let labels = (0..16).map(|i| i % 2).collect();
        let set = Dataset::new(points, labels, [1, 1, 2], 2).unwrap();
        Learner::new(model, DataLoaders::new(set.clone(), set, 4, 0)).with_output(Output::Quiet)
    }

    #[test]
    fn a_nan_weight_before_a_relu_reaches_the_loss() {
        // One hidden unit's weight is NaN. A ReLU that mapped NaN to 0 hid it: the loss stayed
        // finite and fit returned Ok with NaN weights. NaN now propagates (as in PyTorch).
        let dev = Cpu::seed_from_u64(0);
        let mut model = <Net as BuildModule<Cpu, f32>>::build(&dev);
        let mut w = model.0.weight.as_vec();
        w[0] = f32::NAN;
        model.0.weight = dev.tensor_from_vec(w, (Const::<4>, Const::<2>));
        let error = learner(model).fit(1, 1e-2).unwrap_err();
        assert!(matches!(error, LearnError::NonFiniteLoss { epoch: 0, batch: 0, .. }), "{error}");
        assert!(error.to_string().contains("the loss became NaN at epoch 0, batch 0"), "{error}");
    }

    /// Puts a NaN into a gradient (at one batch) or a weight (after one step).
    struct Poison {
        gradient_at: Option<(usize, usize)>,
        weight_at: Option<(usize, usize)>,
    }

    impl Callback<Net, Flat2, 2> for Poison {
        fn before_step(&mut self, ctx: &Context, model: &Net, grads: &mut Gradients<f32, Cpu>) -> Result<(), LearnError> {
            if self.gradient_at == Some((ctx.epoch, ctx.batch)) {
                grads.get_or_alloc_mut(&model.2.bias)?[1] = f32::NAN;
            }
            Ok(())
        }

        fn after_step(&mut self, ctx: &Context, model: &mut Net) -> Result<(), LearnError> {
            if self.weight_at == Some((ctx.epoch, ctx.batch)) {
                let mut b = model.2.bias.as_vec();
                b[0] = f32::INFINITY;
                model.2.bias = model.2.bias.device().tensor_from_vec(b, (Const::<2>,));
            }
            Ok(())
        }
    }

    #[test]
    fn a_nan_gradient_stops_fit_before_the_step() {
        let dev = Cpu::seed_from_u64(0);
        let mut learn = learner(<Net as BuildModule<Cpu, f32>>::build(&dev));
        let mut poison = Poison { gradient_at: Some((1, 2)), weight_at: None };
        let error = learn.fit_with(3, crate::learn::LrSchedule::Constant { lr: 1e-2 }, &mut [&mut poison]).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(&error, LearnError::NonFiniteGradient { tensor, index: 1, epoch: 1, batch: 2, .. } if tensor == "2.bias"),
            "{message}"
        );
        assert!(message.contains("the gradient of `2.bias` became NaN (at index 1) at epoch 1, batch 2"), "{message}");
        // The optimizer did not step with it.
        assert_eq!(non_finite_weight(learn.model()).unwrap(), None);
    }

    #[test]
    fn a_non_finite_weight_is_caught_at_the_end_of_the_epoch() {
        let dev = Cpu::seed_from_u64(0);
        let mut learn = learner(<Net as BuildModule<Cpu, f32>>::build(&dev));
        // 16 samples in batches of 4: batch 3 is the last of epoch 0.
        let mut poison = Poison { gradient_at: None, weight_at: Some((0, 3)) };
        let error = learn.fit_with(2, crate::learn::LrSchedule::Constant { lr: 1e-2 }, &mut [&mut poison]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("`2.bias` holds inf (at index 0) after epoch 0, batch 3"), "{message}");
    }
}
