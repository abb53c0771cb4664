//! Small file-system helpers shared by the concerns: atomic writes and self-removing scratch
//! directories.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it into
/// place, so readers never see a half-written file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), unique_suffix()));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A fresh directory under the system temp dir, removed with its content on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `<tmp>/fasterai-<label>-<pid>-<time>-<n>`.
    pub(crate) fn new(label: &str) -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!("fasterai-{label}-{}", unique_suffix()));
        fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `<pid>-<nanoseconds since epoch>-<per-process counter>`: unique across threads and processes.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dir_is_removed_on_drop_and_write_atomic_leaves_no_temp() {
        let kept;
        {
            let dir = ScratchDir::new("fsutil-test").unwrap();
            kept = dir.path().to_path_buf();
            let file = dir.path().join("a.json");
            write_atomic(&file, b"one").unwrap();
            write_atomic(&file, b"two").unwrap();
            assert_eq!(fs::read(&file).unwrap(), b"two");
            let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        }
        assert!(!kept.exists());
    }
}
