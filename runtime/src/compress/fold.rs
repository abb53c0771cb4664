//! `fold`: merge each evaluation-mode BatchNorm into the conv or linear layer before it, so the
//! BatchNorm disappears from the model's type and the layer gains a bias.
//!
//! A derived model's `fold()` (and `compress! { fold() }`) calls these for every `conv → bn` and
//! `linear → bn` pair; the arithmetic itself lives with the layers ([`crate::nn::fold`]), where the
//! frozen plans use it too.
//!
//! ```
//! use fasterai_runtime::compress::fold::{fold_into, BnStats};
//! let bn = BnStats { gamma: &[2.0], beta: &[0.5], mean: &[1.0], var: &[3.0], epsilon: 1.0 };
//! let (w, b) = fold_into("conv1", &[1.0, -2.0], Some(&[1.0]), &bn).unwrap();
//! assert_eq!((w, b), (vec![1.0, -2.0], vec![0.5]));
//! ```

pub use crate::nn::fold::{fold_conv_bn, fold_into, fold_linear_bn, BnStats, FoldError};
