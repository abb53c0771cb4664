//! Shared by the integration tests: the models they use, declared once ([`models`]), and helpers.
//! A test includes it with `#[macro_use] mod support;` (the derive's model macros come with it,
//! so `compress!` finds the shared models).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod deploy;
pub mod digits;
pub mod int8_reference;
#[macro_use]
pub mod models;
#[macro_use]
pub mod resnet;
pub mod safetensors;
#[macro_use]
pub mod torch;

/// `after` equals `before` to within 1e-5 of `before`'s largest magnitude, which is not zero: what
/// removing silent channels must leave of a model's outputs.
pub fn assert_same_outputs(before: &[f32], after: &[f32]) {
    let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (b, a) in before.iter().zip(after) {
        assert!((b - a).abs() <= 1e-5 * scale, "{b} vs {a}");
    }
}
