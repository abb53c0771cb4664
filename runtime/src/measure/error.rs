//! Errors of measuring.

/// What can go wrong while measuring a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeasureError {
    /// Writing or reading a file failed.
    #[error("could not {action} `{path}`: {source}")]
    Io {
        /// What was being done ("write", "read", ...).
        action: &'static str,
        /// The file concerned.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
