//! [`InferencePlan`]: what an accelerated fp32 plan and an int8 model have in common, so the same
//! code measures either.

use super::{Accelerated, DeployError, Int8Model};
use crate::data::Dataset;
use crate::measure::{Accuracy, Bytes};

/// A frozen model that runs one image at a time.
pub trait InferencePlan: Send {
    /// The logits of one image (`image` holds exactly one sample, channel-major).
    fn run(&mut self, image: &[f32]) -> Result<&[f32], DeployError>;

    /// Weights, biases and quantization parameters it stores.
    fn parameters(&self) -> usize;

    /// Its size on disk: the bytes of its saved file.
    fn size_bytes(&self) -> Result<Bytes, DeployError>;

    /// The share of `set`'s images whose largest logit is their label.
    /// Errors: an image the plan cannot take, or an empty set.
    fn accuracy(&mut self, set: &Dataset) -> Result<Accuracy, DeployError> {
        let mut correct = 0;
        for i in 0..set.len() {
            let logits = self.run(set.image(i))?;
            let best = (0..logits.len()).fold(0, |b, k| if logits[k] > logits[b] { k } else { b });
            correct += usize::from(best == set.label(i));
        }
        Ok(Accuracy::from_counts(correct, set.len())?)
    }
}

/// Implements [`InferencePlan`] for a frozen model type by calling its own `run` and `parameters`,
/// and `size_bytes` as written (`self` named by the given identifier).
macro_rules! delegate_inference_plan {
    ($plan:ident, |$this:ident| $size_bytes:expr) => {
        impl<M: Send> InferencePlan for $plan<M> {
            fn run(&mut self, image: &[f32]) -> Result<&[f32], DeployError> {
                $plan::run(self, image)
            }

            fn parameters(&self) -> usize {
                $plan::parameters(self)
            }

            fn size_bytes(&self) -> Result<Bytes, DeployError> {
                let $this = self;
                $size_bytes
            }
        }
    };
}

delegate_inference_plan!(Accelerated, |plan| Ok(Accelerated::size_bytes(plan)));
delegate_inference_plan!(Int8Model, |model| Int8Model::size_bytes(model));
