//! The IDX reader on files the tests write: raw, gzip, and each kind of corruption.

use std::{fs, io::Write, path::Path};

use flate2::{write::GzEncoder, Compression};

use super::*;
use crate::{
    data::{DataError, Normalization},
    fsutil::ScratchDir,
};

/// IDX bytes: magic, big-endian dims, payload.
fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// 3 images of 2×2 with pixels 0, 1, ..., 11 and labels 7, 0, 9.
fn images_file() -> Vec<u8> {
    idx_bytes(IDX_IMAGES_MAGIC, &[3, 2, 2], &(0..12).collect::<Vec<u8>>())
}
fn labels_file() -> Vec<u8> {
    idx_bytes(IDX_LABELS_MAGIC, &[3], &[7, 0, 9])
}

/// A directory with the four files; `gz` chooses which are gzipped.
fn write_set(dir: &Path, gz: [bool; 4]) {
    let files = [
        ("train-images-idx3-ubyte", images_file()),
        ("train-labels-idx1-ubyte", labels_file()),
        ("t10k-images-idx3-ubyte", images_file()),
        ("t10k-labels-idx1-ubyte", labels_file()),
    ];
    for ((name, bytes), gz) in files.into_iter().zip(gz) {
        if gz {
            fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn reads_raw_and_gzipped_files_alike() {
    let dir = ScratchDir::new("idx-read").unwrap();
    let raw = dir.path().join("raw");
    let gz = dir.path().join("packed.gz");
    fs::write(&raw, images_file()).unwrap();
    fs::write(&gz, gzip(&images_file())).unwrap();
    let expected = IdxImages { count: 3, rows: 2, cols: 2, pixels: (0..12).collect() };
    assert_eq!(read_idx_images(&raw).unwrap(), expected);
    assert_eq!(read_idx_images(&gz).unwrap(), expected);

    fs::write(&raw, labels_file()).unwrap();
    fs::write(&gz, gzip(&labels_file())).unwrap();
    assert_eq!(read_idx_labels(&raw).unwrap(), vec![7, 0, 9]);
    assert_eq!(read_idx_labels(&gz).unwrap(), vec![7, 0, 9]);
}

#[test]
fn idx_dir_loads_normalised_train_and_valid_from_mixed_raw_and_gz() {
    let dir = ScratchDir::new("idx-dir").unwrap();
    write_set(dir.path(), [true, false, false, true]);
    let norm = Normalization::new(0.5, 0.25).unwrap();
    let (train, valid) = idx_dir(dir.path(), norm).unwrap();
    for ds in [&train, &valid] {
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.shape(), [1, 2, 2]);
        assert_eq!(ds.num_classes(), 10);
        assert_eq!(ds.labels(), &[7, 0, 9]);
        for (i, &x) in ds.images().iter().enumerate() {
            let expected = (i as f32 / 255.0 - 0.5) / 0.25;
            assert!((x - expected).abs() < 1e-6, "pixel {i}: {x} vs {expected}");
        }
    }
}

#[test]
fn missing_directory_and_missing_file_say_how_to_fetch() {
    let dir = ScratchDir::new("idx-missing").unwrap();
    let absent = dir.path().join("nope");
    let err = idx_dir(&absent, Normalization::MNIST).unwrap_err();
    assert!(matches!(&err, DataError::MissingDir { path } if path == &absent));
    assert!(err.to_string().contains("scripts/fetch-data.sh"), "{err}");

    write_set(dir.path(), [false; 4]);
    fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let err = idx_dir(dir.path(), Normalization::MNIST).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { stem: "t10k-labels-idx1-ubyte", .. }), "{err}");
    assert!(err.to_string().contains("scripts/fetch-data.sh"), "{err}");
}

#[test]
fn bad_magic_reports_found_and_expected() {
    let dir = ScratchDir::new("idx-magic").unwrap();
    let path = dir.path().join("swapped");
    fs::write(&path, labels_file()).unwrap();
    let err = read_idx_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic { found: IDX_LABELS_MAGIC, expected: IDX_IMAGES_MAGIC, kind: "images", .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0x00000801") && err.to_string().contains("0x00000803"), "{err}");
    // Not an IDX file at all (text), gzipped: the magic check still runs after decompression.
    fs::write(&path, gzip(b"hello world, not idx")).unwrap();
    assert!(matches!(read_idx_labels(&path), Err(DataError::BadMagic { .. })));
}

#[test]
fn truncated_payload_reports_expected_and_found_bytes_raw_and_gz() {
    let dir = ScratchDir::new("idx-trunc").unwrap();
    let mut short = images_file();
    short.truncate(short.len() - 5); // header 16 + 12 pixels = 28 → 23
    for (name, bytes) in [("raw", short.clone()), ("short.gz", gzip(&short))] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected: 28, found: 23, .. }), "{name}: {err}");
    }
}

#[test]
fn truncated_header_is_reported_as_truncated() {
    let dir = ScratchDir::new("idx-header").unwrap();
    let path = dir.path().join("f");
    fs::write(&path, &images_file()[..10]).unwrap();
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected: 16, found: 10, .. }), "{err}");
    fs::write(&path, [0u8, 0]).unwrap();
    assert!(matches!(read_idx_labels(&path), Err(DataError::Truncated { expected: 8, found: 2, .. })));
}

#[test]
fn cut_gzip_stream_is_an_io_error_naming_the_file() {
    let dir = ScratchDir::new("idx-cutgz").unwrap();
    let path = dir.path().join("cut.gz");
    let packed = gzip(&idx_bytes(IDX_IMAGES_MAGIC, &[50, 28, 28], &vec![3u8; 50 * 784]));
    fs::write(&path, &packed[..packed.len() / 2]).unwrap();
    match read_idx_images(&path) {
        Err(DataError::Io { path: p, .. }) => assert_eq!(p, path),
        Err(DataError::Truncated { .. }) => {}
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn trailing_bytes_are_rejected_with_their_count() {
    let dir = ScratchDir::new("idx-trail").unwrap();
    let path = dir.path().join("long");
    let mut long = labels_file();
    long.extend_from_slice(&[1, 2, 3, 4]);
    fs::write(&path, long).unwrap();
    let err = read_idx_labels(&path).unwrap_err();
    assert!(matches!(err, DataError::TrailingBytes { expected: 11, found: 15, .. }), "{err}");
}

#[test]
fn zero_dimensions_are_rejected() {
    let dir = ScratchDir::new("idx-empty").unwrap();
    let path = dir.path().join("empty");
    fs::write(&path, idx_bytes(IDX_IMAGES_MAGIC, &[0, 28, 28], &[])).unwrap();
    assert!(matches!(read_idx_images(&path), Err(DataError::EmptyFile { .. })));
}

#[test]
fn huge_announced_size_is_truncated_not_an_allocation() {
    let dir = ScratchDir::new("idx-huge").unwrap();
    let path = dir.path().join("huge");
    fs::write(&path, idx_bytes(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3])).unwrap();
    assert!(matches!(read_idx_images(&path), Err(DataError::Truncated { found: 19, .. })));
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = ScratchDir::new("idx-count").unwrap();
    write_set(dir.path(), [false; 4]);
    fs::write(dir.path().join("train-labels-idx1-ubyte"), idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2]))
        .unwrap();
    let err = idx_dir(dir.path(), Normalization::MNIST).unwrap_err();
    assert!(matches!(err, DataError::IdxCountMismatch { images: 3, labels: 2, .. }), "{err}");
}

#[test]
fn labels_outside_the_classes_are_rejected() {
    let dir = ScratchDir::new("idx-label").unwrap();
    write_set(dir.path(), [false; 4]);
    fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_bytes(IDX_LABELS_MAGIC, &[3], &[1, 10, 2]))
        .unwrap();
    let err = idx_dir(dir.path(), Normalization::MNIST).unwrap_err();
    assert!(
        matches!(err, DataError::IdxLabelOutOfRange { index: 1, label: 10, num_classes: 10, .. }),
        "{err}"
    );
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = ScratchDir::new("idx-shape").unwrap();
    write_set(dir.path(), [false; 4]);
    let other = idx_bytes(IDX_IMAGES_MAGIC, &[3, 1, 4], &(0..12).collect::<Vec<u8>>());
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), other).unwrap();
    let err = idx_dir(dir.path(), Normalization::MNIST).unwrap_err();
    assert!(matches!(err, DataError::ShapeMismatch { train: [1, 2, 2], test: [1, 1, 4] }), "{err}");
}

#[test]
fn unreadable_path_is_an_io_error_with_the_path() {
    let dir = ScratchDir::new("idx-io").unwrap();
    // A directory where a file is expected: opening succeeds on Linux, reading fails.
    let err = read_idx_labels(dir.path()).unwrap_err();
    assert!(matches!(&err, DataError::Io { path, .. } if path == dir.path()), "{err}");
}
