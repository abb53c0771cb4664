//! The files `scripts/fetch-data.sh` writes load with the IDX reader.
//!
//! Skips (with a message) when `data/` has not been fetched: the data is git-ignored.

use std::path::PathBuf;

use fasterai_runtime::data::{fashion_mnist_dir, mnist_dir, DataError, Dataset};

fn data_dir(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent; run scripts/fetch-data.sh to test the real files", dir.display());
        None
    }
}

fn check_set(train: &Dataset, valid: &Dataset) {
    assert_eq!((train.len(), valid.len()), (60_000, 10_000));
    assert_eq!(train.shape(), [1, 28, 28]);
    assert_eq!(valid.shape(), [1, 28, 28]);
    // Both sets are near balanced: every class has 5000..=7000 training and 800..=1200 test samples.
    assert!(train.class_counts().iter().all(|c| (5000..=7000).contains(c)), "{:?}", train.class_counts());
    assert!(valid.class_counts().iter().all(|c| (800..=1200).contains(c)), "{:?}", valid.class_counts());
    // Normalised with the set's own statistics: mean near 0, std near 1 on the training images.
    let n = train.images().len() as f64;
    let mean = train.images().iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = train.images().iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 0.01, "std {}", var.sqrt());
}

/// Loads the set `name` with `load` and checks it, when it has been fetched.
fn check_fetched(name: &str, load: fn(PathBuf) -> Result<(Dataset, Dataset), DataError>) -> Result<(), DataError> {
    if let Some(dir) = data_dir(name) {
        let (train, valid) = load(dir)?;
        check_set(&train, &valid);
    }
    Ok(())
}

#[test]
fn fetched_mnist_loads() -> Result<(), DataError> {
    check_fetched("mnist", mnist_dir)
}

#[test]
fn fetched_fashion_mnist_loads() -> Result<(), DataError> {
    check_fetched("fashion-mnist", fashion_mnist_dir)
}
