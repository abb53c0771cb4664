//! The README's example is `examples/readme.rs` (which `cargo test` compiles): the two must not drift.

#[test]
fn the_readme_shows_the_example_that_compiles() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/readme.rs")).unwrap();
    let start = readme.find("```rust\n").expect("README has a Rust example") + "```rust\n".len();
    let end = start + readme[start..].find("```\n").expect("the example block ends");
    let shown = &readme[start..end];
    let code = example.split_once("\n\n").map(|(_, code)| code).unwrap_or(&example);
    assert_eq!(shown, code, "README.md's example differs from examples/readme.rs: copy one onto the other");
}

#[test]
fn the_readme_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let head: String = readme.lines().take(12).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release --example walkthrough"), "{head}");
    assert!(head.contains("cargo test --release --workspace"), "{head}");
    assert!(readme.len() <= 8_500, "README.md is {} bytes: keep it a front door, move results to docs/", readme.len());
}
