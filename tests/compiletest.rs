//! trybuild UI tests: what the macros say when a model is wrong, and models they must accept.
//!
//! One mistake per file, named after it, in one folder per macro; the `compress!` cases take
//! their model from `tests/ui/models/` with `include!` (a case about a mistake in the model itself
//! keeps its own struct). The `.stderr` snapshots are written for the pinned stable toolchain;
//! regenerate them with `TRYBUILD=overwrite` (and read every one) only when it changes.

#![cfg(not(fasterai_lean_tests))] // trybuild is a dev-dependency left out then (Cargo.toml)

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/derive/*.rs");
    t.compile_fail("tests/ui/compress/*.rs");
    t.compile_fail("tests/ui/residual/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
