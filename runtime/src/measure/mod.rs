//! Measuring tools: parameters, size on disk, CPU latency, MACs, and the report table.
//!
//! Each figure carries its unit as a type ([`Bytes`], [`Millis`], [`Accuracy`], [`Times`],
//! [`Points`]). A [`Report`] gathers one [`ReportRow`] per stage and prints them as a table with
//! ratios against the baseline.

pub mod chart;
mod compare;
mod error;
mod latency;
mod macs;
mod params;
mod report;
mod size;
mod table;
mod figures;

pub use compare::Comparison;
pub use error::MeasureError;
pub use latency::{cpu_latency, Latency, LatencyOptions};
pub use macs::{conv2d_macs, linear_macs, Macs};
pub use params::num_params;
pub use report::{thousands, Report, ReportRow, SpeedReference};
pub use size::{model_size, model_size_in_memory};
pub use table::{text_table, Align};
pub use figures::{Accuracy, Bytes, Millis, Points, Times};
