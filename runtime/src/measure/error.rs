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
    /// dfdx/safetensors could not serialise the model.
    #[error("could not save the model as safetensors to `{path}`: {source}")]
    SafeTensors {
        /// The file being written (a scratch file for [`crate::measure::model_size`]).
        path: std::path::PathBuf,
        /// The underlying error.
        source: safetensors::SafeTensorError,
    },
    /// The safetensors header of a model could not be built (see [`crate::measure::model_size_in_memory`]).
    #[error("could not build the safetensors header of the model: {source}")]
    SafeTensorsHeader {
        /// The underlying error.
        source: safetensors::SafeTensorError,
    },
    /// A latency run with no timed run: there would be no statistic to report.
    #[error(
        "a latency measurement needs at least one timed run, got runs = 0; use 50 or more for stable figures"
    )]
    EmptyLatencyRun,
    /// A thread count of zero.
    #[error(
        "a latency measurement needs at least one thread, got 0; use `threads: None` for rayon's default"
    )]
    ZeroThreads,
    /// rayon could not start the thread pool.
    #[error("could not start a thread pool of {threads} threads: {source}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The underlying error.
        source: rayon::ThreadPoolBuildError,
    },
    /// An accuracy outside `[0, 1]` (or `[0, 100]` as a percent), or not finite.
    #[error("accuracy {value} is outside [0, 1]; pass a fraction to Accuracy::from_fraction or a percent to Accuracy::from_percent")]
    BadAccuracy {
        /// The value given.
        value: f64,
    },
    /// A report file that is not a report.
    #[error("`{path}` is not a report saved by Report::save_json: {source}")]
    BadReportJson {
        /// The file.
        path: std::path::PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A report that serde_json could not encode.
    #[error("could not encode the report as JSON: {source}")]
    ReportEncode {
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A baseline asked by name that the report does not hold.
    #[error("the report has no stage named `{stage}`; its stages are {known:?}")]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The stages present.
        known: Vec<String>,
    },
}
