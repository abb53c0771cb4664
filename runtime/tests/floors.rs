//! The runtime is built in floors, and each floor imports only the floors below it:
//!
//! | floor | modules |
//! |---|---|
//! | 0 | `units`, `fsutil`, `test_support`, `safetensors_file` |
//! | 1 | `quant` (int8 arithmetic) |
//! | 2 | `kernels` |
//! | 3 | `ops` (tape ops) |
//! | 4 | `nn` (layers) |
//! | 5 | `model` (the `Compressible` trait and what it describes) |
//! | 6 | `data` |
//! | 7 | `learn` |
//! | 8 | `measure` |
//! | 9 | `deploy` (frozen plans) |
//! | 10 | `compress` (the techniques) |
//! | 11 | `runner`, `error`, `prelude` (the top: what `compress!` runs, the crate-wide error) |
//!
//! This test reads every source file and fails on a `crate::<module>` path (outside comments) that
//! names a higher floor than the file's own.

use std::path::{Path, PathBuf};

const FLOORS: &[(&str, u32)] = &[
    ("units", 0),
    ("fsutil", 0),
    ("test_support", 0),
    ("safetensors_file", 0),
    ("quant", 1),
    ("kernels", 2),
    ("ops", 3),
    ("nn", 4),
    ("model", 5),
    ("data", 6),
    ("learn", 7),
    ("measure", 8),
    ("deploy", 9),
    ("compress", 10),
    ("runner", 11),
    ("error", 11),
    ("prelude", 11),
    ("lib", 11),
];

fn floor(module: &str) -> Option<u32> {
    FLOORS.iter().find(|(name, _)| *name == module).map(|(_, f)| *f)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line of code names through `crate::a` or `crate::{a, b::c}`.
fn named_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push(name);
            }
        } else {
            found.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found
}

#[test]
fn every_floor_imports_only_the_floors_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "read only {} files under {}", files.len(), src.display());
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let own = floor(&top).unwrap_or_else(|| panic!("`{top}` has no floor: add it to FLOORS and the table above"));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for module in named_modules(line) {
                if let Some(theirs) = floor(&module) {
                    if theirs > own {
                        upward.push(format!("{}:{}: `{top}` (floor {own}) imports `{module}` (floor {theirs})", rel.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports that run upward:\n{}", upward.join("\n"));
}

#[test]
fn the_reader_finds_grouped_and_plain_paths() {
    assert_eq!(named_modules("use crate::nn::Conv2D;"), vec!["nn"]);
    assert_eq!(named_modules("use crate::{kernels::team, quant};"), vec!["kernels", "quant"]);
    assert_eq!(named_modules("let x = 1;"), Vec::<String>::new());
}
