//! Layer benchmarks (filled in by the foundation work).
fn main() {}
