//! A failed stage: which one, and why.

use std::fmt;

/// The error of one stage of the walkthrough: its name and the library's error.
///
/// Printed as `stage `pruned` failed: <cause>`, so a failure deep in a pass still says where in
/// the story it happened.
#[derive(Debug)]
pub struct StageError {
    /// The stage that failed (`data`, `baseline`, `pruned`, ...).
    pub stage: &'static str,
    /// What went wrong.
    pub source: fasterai::Error,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage `{}` failed: {}", self.stage, self.source)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Attaches a stage name to any error fasterai can convert: `result.stage("pruned")?`.
pub trait InStage<T> {
    /// The same result, its error wrapped in a [`StageError`] naming `stage`.
    fn stage(self, stage: &'static str) -> Result<T, StageError>;
}

impl<T, E: Into<fasterai::Error>> InStage<T> for Result<T, E> {
    fn stage(self, stage: &'static str) -> Result<T, StageError> {
        self.map_err(|e| StageError { stage, source: e.into() })
    }
}
