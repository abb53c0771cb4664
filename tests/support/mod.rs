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
