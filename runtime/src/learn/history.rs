//! The epoch table as data: one record per epoch, printable and serialisable.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Fraction, MetricValue};

/// One row of the epoch table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch index, from 0.
    pub epoch: usize,
    /// Smoothed training loss at the end of the epoch (fastai's: an exponential moving average
    /// with β = 0.98 over every batch since the fit started, debiased).
    pub train_loss: f32,
    /// Mean loss over the validation set (each sample weighs the same).
    pub valid_loss: f32,
    /// Top-1 accuracy on the validation set.
    pub accuracy: Fraction,
    /// The learner's extra metrics, in order.
    pub metrics: Vec<MetricValue>,
    /// Wall time of the epoch, training and validation.
    pub elapsed: Duration,
}

impl EpochRecord {
    /// The record without its wall time, to compare two runs.
    pub fn without_time(&self) -> Self {
        Self { elapsed: Duration::ZERO, ..self.clone() }
    }
}

/// The epochs of one fit, in order.
///
/// Displays as the fastai-style table `epoch | train_loss | valid_loss | accuracy | time`:
/// ```
/// use fasterai_runtime::learn::{EpochRecord, Fraction, History};
/// use std::time::Duration;
/// let history = History { epochs: vec![EpochRecord {
///     epoch: 0, train_loss: 0.5, valid_loss: 0.25, accuracy: Fraction::of(9, 10),
///     metrics: vec![], elapsed: Duration::from_secs(75),
/// }] };
/// let table = history.to_string();
/// assert!(table.lines().next().unwrap().starts_with("epoch"));
/// assert!(table.lines().nth(1).unwrap().ends_with("01:15"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per epoch run.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The history without wall times, to compare two runs.
    pub fn without_time(&self) -> Self {
        Self { epochs: self.epochs.iter().map(EpochRecord::without_time).collect() }
    }
}

/// `mm:ss`, minutes growing past 59 when needed.
pub fn format_mm_ss(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

/// Column headers and widths of the epoch table for these extra metric names.
pub(crate) struct TableLayout {
    headers: Vec<String>,
}

impl TableLayout {
    pub(crate) fn new<'a>(metric_names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut headers: Vec<String> = ["epoch", "train_loss", "valid_loss", "accuracy"].map(String::from).into();
        headers.extend(metric_names.into_iter().map(String::from));
        headers.push("time".into());
        Self { headers }
    }

    fn line(&self, cells: &[String]) -> String {
        let width = |i: usize| self.headers[i].len().max(8);
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = width(i)));
            }
        }
        out
    }

    pub(crate) fn header(&self) -> String {
        self.line(&self.headers)
    }

    pub(crate) fn row(&self, r: &EpochRecord) -> String {
        let mut cells = vec![
            r.epoch.to_string(),
            format!("{:.6}", r.train_loss),
            format!("{:.6}", r.valid_loss),
            format!("{:.6}", r.accuracy),
        ];
        cells.extend(r.metrics.iter().map(|m| format!("{:.6}", m.value)));
        cells.push(format_mm_ss(r.elapsed));
        self.line(&cells)
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> =
            self.epochs.first().map(|r| r.metrics.iter().map(|m| m.name.as_str()).collect()).unwrap_or_default();
        let layout = TableLayout::new(names);
        writeln!(f, "{}", layout.header())?;
        for r in &self.epochs {
            writeln!(f, "{}", layout.row(r))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, secs: u64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.25,
            valid_loss: 0.5,
            accuracy: Fraction::of(3, 4),
            metrics: vec![MetricValue { name: "error_rate".into(), value: 0.25 }],
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn mm_ss_formats() {
        for (secs, text) in [(0, "00:00"), (59, "00:59"), (61, "01:01"), (3600, "60:00")] {
            assert_eq!(format_mm_ss(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn table_lists_every_column_and_epoch() {
        let table = History { epochs: vec![record(0, 3), record(1, 65)] }.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["epoch", "train_loss", "valid_loss", "accuracy", "error_rate", "time"]);
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(row, ["1", "1.250000", "0.500000", "0.750000", "0.250000", "01:05"]);
    }

    #[test]
    fn round_trips_through_json() {
        let history = History { epochs: vec![record(0, 3)] };
        let json = serde_json::to_string(&history).unwrap();
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), history);
    }
}
