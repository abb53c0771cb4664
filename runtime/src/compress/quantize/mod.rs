//! Quantization-aware training: train a model with its conv and linear weights on the int8 grid
//! ([`QuantizeCallback`]), so the int8 plan `deploy::quantize_static` freezes afterwards loses
//! as little accuracy as possible.

mod qat;

pub use qat::{quantize_weights_in_place, QatError, QuantizeCallback};
