//! Activations on all cores.

use dfdx::nn::modules::{NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use dfdx::tensor::CpuError;

/// Rectified linear unit, `max(x, 0)`, for any tensor shape; parallel and with a hand-written backward
/// (dfdx's generic one is several times slower on large activations).
///
/// Its error type is dfdx's `CpuError`, like dfdx's layers, so it composes with them in tuples.
///
/// ```
/// use fasterai_runtime::prelude::*;
/// let dev: Cpu = Default::default();
/// let x = dev.tensor([-1.0f32, 2.0]);
/// assert_eq!(ReLU.forward(x).array(), [0.0, 2.0]);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReLU;

impl ZeroSizedModule for ReLU {}
impl NonMutableModule for ReLU {}

impl<S: Shape, T: Tape<f32, Cpu>> Module<Tensor<S, f32, Cpu, T>> for ReLU {
    type Output = Tensor<S, f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<S, f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        crate::ops::relu::relu(x)
    }
}
