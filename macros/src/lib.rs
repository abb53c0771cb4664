//! Procedural macros of fasterai: `#[derive(Compressible)]` and `compress!`.
//!
//! Use them through the `fasterai` crate, not directly.

mod ir;
