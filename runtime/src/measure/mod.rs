//! Measuring tools: parameters, size on disk, CPU latency, MACs, and the report table.

mod error;

pub use error::MeasureError;
