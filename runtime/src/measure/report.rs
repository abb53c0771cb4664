//! The measuring report: one row per compression stage, printed as a table, saved as JSON.

use std::{fmt, fs, path::Path};

use serde::{Deserialize, Serialize};

use super::{text_table, Accuracy, Align, Bytes, Comparison, MeasureError, Millis};
use crate::fsutil::write_atomic;

/// The figures of one model at one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Stage name ("baseline", "pruned", ...).
    pub stage: String,
    /// Trainable parameters ([`super::num_params`]).
    pub params: usize,
    /// Size of the saved weights ([`super::model_size`]).
    pub size: Bytes,
    /// Median single-image latency ([`super::cpu_latency`]).
    pub latency_p50: Millis,
    /// Validation accuracy.
    pub accuracy: Accuracy,
    /// Anything worth saying about the stage (widths, MACs, thread count, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl ReportRow {
    /// A row without notes.
    pub fn new(
        stage: impl Into<String>,
        params: usize,
        size: Bytes,
        latency_p50: Millis,
        accuracy: Accuracy,
    ) -> Self {
        Self { stage: stage.into(), params, size, latency_p50, accuracy, notes: None }
    }

    /// The same row with `notes`.
    pub fn with_notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = Some(notes.into());
        self
    }

    /// This row against `baseline` (see [`Comparison`]).
    pub fn compare(&self, baseline: &ReportRow) -> Comparison {
        Comparison::of(self, baseline)
    }
}

/// Rows of figures, one per stage, in the order they were added.
///
/// Its [`Display`](fmt::Display) prints an aligned table whose ratio columns compare each row with
/// the **first** row (the baseline by convention).
///
/// ```
/// use fasterai_runtime::measure::{Accuracy, Bytes, Millis, Report, ReportRow};
/// let mut report = Report::default();
/// report.push(ReportRow::new("baseline", 871_018, Bytes(3_484_216), Millis(1.36), Accuracy::from_percent(93.2)?));
/// report.push(ReportRow::new("pruned", 225_000, Bytes(900_000), Millis(0.51), Accuracy::from_percent(92.9)?));
/// let table = report.to_string();
/// assert!(table.contains("3.48") && table.contains("3.87×"));
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    rows: Vec<ReportRow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<SpeedReference>,
}

/// A latency every row's speed is also compared with, such as the baseline frozen into an fp32
/// plan, so that no "× faster" rests on a slow baseline alone.
///
/// ```
/// use fasterai_runtime::measure::{Accuracy, Bytes, Millis, ReportRow, SpeedReference, Times};
/// let plan = SpeedReference { name: "the baseline's fp32 plan".into(), latency_p50: Millis(0.2) };
/// let row = ReportRow::new("int8", 0, Bytes(70_000), Millis(0.05), Accuracy::from_percent(99.0)?);
/// assert_eq!(plan.faster(&row), Some(Times(4.0)));
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedReference {
    /// What was timed.
    pub name: String,
    /// Its median single-image latency.
    pub latency_p50: Millis,
}

impl SpeedReference {
    /// This latency ÷ the row's: above 1 when the row is faster; `None` when the row's is zero.
    pub fn faster(&self, row: &ReportRow) -> Option<super::Times> {
        super::compare::ratio(self.latency_p50.0, row.latency_p50.0)
    }
}

impl Report {
    /// Appends a row.
    pub fn push(&mut self, row: ReportRow) {
        self.rows.push(row);
    }

    /// Sets the latency every row's speed is also compared with (printed as a `speed × ref`
    /// column, saved in the JSON file).
    pub fn set_reference(&mut self, reference: SpeedReference) {
        self.reference = Some(reference);
    }

    /// The latency every row's speed is also compared with, if set.
    pub fn reference(&self) -> Option<&SpeedReference> {
        self.reference.as_ref()
    }

    /// All rows, in order.
    pub fn rows(&self) -> &[ReportRow] {
        &self.rows
    }

    /// The row of `stage`, if any (the first one when a name repeats).
    pub fn row(&self, stage: &str) -> Option<&ReportRow> {
        self.rows.iter().find(|r| r.stage == stage)
    }

    /// `stage` compared with `baseline`; errors naming the known stages when either is absent.
    pub fn compare(&self, stage: &str, baseline: &str) -> Result<Comparison, MeasureError> {
        let find = |name: &str| {
            self.row(name).ok_or_else(|| MeasureError::UnknownStage {
                stage: name.to_string(),
                known: self.rows.iter().map(|r| r.stage.clone()).collect(),
            })
        };
        Ok(find(stage)?.compare(find(baseline)?))
    }

    /// Writes the report as pretty JSON, through a temporary file renamed into place: `rows`, then
    /// `against_baseline`, every row compared with the first ([`Comparison`]: the size, speed and
    /// parameter ratios and the accuracy change in points), so the file holds the recap's figures.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), MeasureError> {
        let path = path.as_ref();
        let against_baseline = match self.rows.first() {
            Some(baseline) => self.rows.iter().map(|row| StageComparison { stage: &row.stage, comparison: row.compare(baseline) }).collect(),
            None => Vec::new(),
        };
        let against_reference = match &self.reference {
            Some(reference) => self.rows.iter().map(|row| StageAgainstReference { stage: &row.stage, faster: reference.faster(row) }).collect(),
            None => Vec::new(),
        };
        let file = ReportFile { rows: &self.rows, reference: self.reference.as_ref(), against_baseline, against_reference };
        let json = serde_json::to_vec_pretty(&file).map_err(|source| MeasureError::ReportEncode { source })?;
        write_atomic(path, &json).map_err(|source| MeasureError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a report written by [`Report::save_json`].
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self, MeasureError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| MeasureError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|source| MeasureError::BadReportJson { path: path.to_path_buf(), source })
    }
}

/// What [`Report::save_json`] writes ([`Report::load_json`] reads the rows back and recomputes the rest).
#[derive(Serialize)]
struct ReportFile<'a> {
    rows: &'a [ReportRow],
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a SpeedReference>,
    against_baseline: Vec<StageComparison<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    against_reference: Vec<StageAgainstReference<'a>>,
}

#[derive(Serialize)]
struct StageAgainstReference<'a> {
    stage: &'a str,
    faster: Option<super::Times>,
}

/// One row of `against_baseline`: the stage and its comparison with the first row.
#[derive(Serialize)]
struct StageComparison<'a> {
    stage: &'a str,
    #[serde(flatten)]
    comparison: Comparison,
}

/// Two decimals from 1 up (`3.48`, as fasterai prints MB and ms); below 1, three significant digits
/// (`0.902`, `0.00412`), so the small models of the digits set do not all show `0.00`.
fn figure(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 || !v.is_finite() {
        format!("{v:.2}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(2) as usize;
        format!("{v:.decimals$}")
    }
}

/// `1234567` → `1,234,567`.
///
/// ```
/// assert_eq!(fasterai_runtime::measure::thousands(134_309_962), "134,309,962");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Report {
    /// One line per row, with ratios against the first; a `speed × ref` column and a line naming
    /// the reference when one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut headers = vec!["stage", "params", "size (MB)", "p50 (ms)", "accuracy", "size ×", "speed ×"];
        if self.reference.is_some() {
            headers.push("speed × ref");
        }
        headers.extend(["Δ acc (pts)", "notes"]);
        let baseline = self.rows.first();
        let show_times =
            |t: Option<super::Times>| t.map_or_else(|| "n/a".to_string(), |t| format!("{:.2}×", t.0));
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let c = baseline.map(|b| r.compare(b));
                let mut cells = vec![
                    r.stage.clone(),
                    thousands(r.params as u64),
                    figure(r.size.megabytes()),
                    figure(r.latency_p50.0),
                    format!("{:.2}%", r.accuracy.as_percent()),
                    c.map_or_else(String::new, |c| show_times(c.smaller)),
                    c.map_or_else(String::new, |c| show_times(c.faster)),
                ];
                if let Some(reference) = &self.reference {
                    cells.push(show_times(reference.faster(r)));
                }
                cells.push(c.map_or_else(String::new, |c| format!("{:+.2}", c.accuracy_change.0)));
                cells.push(r.notes.clone().unwrap_or_default());
                cells
            })
            .collect();
        // Text columns (the first and the last) are left-aligned, figures right-aligned.
        let columns = headers.len();
        let align = |i: usize| if i == 0 || i + 1 == columns { Align::Left } else { Align::Right };
        f.write_str(&text_table(&headers, &cells, align))?;
        if let Some(reference) = &self.reference {
            writeln!(f, "ref: {}, p50 {} ms", reference.name, figure(reference.latency_p50.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::ScratchDir;

    fn sample() -> Report {
        let mut report = Report::default();
        report.push(ReportRow::new(
            "baseline",
            871_018,
            Bytes(3_484_216),
            Millis(1.36),
            Accuracy::from_percent(93.2).unwrap(),
        ));
        report.push(
            ReportRow::new(
                "pruned 50%",
                225_434,
                Bytes(902_000),
                Millis(0.5),
                Accuracy::from_percent(92.75).unwrap(),
            )
            .with_notes("widths 16, 16, 32, 32"),
        );
        report
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let dir = ScratchDir::new("report").unwrap();
        let path = dir.path().join("report.json");
        let report = sample();
        report.save_json(&path).unwrap();
        assert_eq!(Report::load_json(&path).unwrap(), report);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"latency_p50\": 1.36") && text.contains("\"size\": 3484216"), "{text}");
        assert!(!text.contains("notes\": null"), "absent notes are omitted");
        // The recap's ratios are in the file too, every row against the first.
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let against = json["against_baseline"].as_array().unwrap();
        assert_eq!(against.len(), 2);
        assert_eq!((against[0]["stage"].as_str(), against[0]["smaller"].as_f64()), (Some("baseline"), Some(1.0)));
        let (smaller, faster) = (against[1]["smaller"].as_f64().unwrap(), against[1]["faster"].as_f64().unwrap());
        assert!((smaller - 3484216.0 / 902000.0).abs() < 1e-9 && (faster - 1.36 / 0.5).abs() < 1e-9, "{text}");
        assert!((against[1]["accuracy_change"].as_f64().unwrap() + 0.45).abs() < 1e-9, "{text}");
    }

    /// A reference latency adds a column and a line to the table, and its ratios to the file.
    #[test]
    fn a_speed_reference_is_printed_and_saved() {
        let mut report = sample();
        let plain = report.to_string();
        assert!(!plain.contains("speed × ref"), "{plain}");
        report.set_reference(SpeedReference { name: "the baseline's fp32 plan".into(), latency_p50: Millis(0.25) });
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("speed × ref"), "{text}");
        assert!(lines[2].contains("0.18×") && lines[3].contains("0.50×"), "{text}");
        assert_eq!(lines.last(), Some(&"ref: the baseline's fp32 plan, p50 0.250 ms"), "{text}");
        let dir = ScratchDir::new("report-ref").unwrap();
        let path = dir.path().join("report.json");
        report.save_json(&path).unwrap();
        assert_eq!(Report::load_json(&path).unwrap(), report);
        let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let faster = json["against_reference"][1]["faster"].as_f64().unwrap();
        assert!((faster - 0.5).abs() < 1e-9, "{json}");
    }

    #[test]
    fn loading_reports_missing_or_bad_files() {
        let dir = ScratchDir::new("report-bad").unwrap();
        let path = dir.path().join("r.json");
        assert!(matches!(Report::load_json(&path), Err(MeasureError::Io { action: "read", .. })));
        fs::write(&path, r#"{"rows":[{"stage":"x","params":1,"size":1,"latency_p50":1.0,"accuracy":1.5}]}"#)
            .unwrap();
        assert!(
            matches!(Report::load_json(&path), Err(MeasureError::BadReportJson { .. })),
            "accuracy 1.5 is refused"
        );
        let err = sample().save_json(dir.path().join("no/such/dir/r.json")).unwrap_err();
        assert!(matches!(err, MeasureError::Io { action: "write", .. }));
    }

    #[test]
    fn table_is_aligned_and_compares_with_the_first_row() {
        let table = sample().to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("stage") && lines[1].starts_with("---"));
        assert!(
            lines[2].contains("871,018") && lines[2].contains("3.48") && lines[2].contains("93.20%"),
            "{table}"
        );
        assert!(lines[2].contains("1.00×") && lines[2].contains("+0.00"), "{table}");
        assert!(
            lines[3].contains("3.86×") && lines[3].contains("2.72×") && lines[3].contains("-0.45"),
            "{table}"
        );
        assert!(lines[3].ends_with("widths 16, 16, 32, 32"), "{table}");
        // Right-aligned figures end in the same column on every line.
        let col = |l: &str, s: &str| l.find(s).unwrap() + s.len();
        assert_eq!(col(lines[2], "3.48"), col(lines[3], "0.902"), "{table}");
        assert_eq!(col(lines[0], "size (MB)"), col(lines[2], "3.48"), "{table}");
    }

    /// The whole text, byte for byte.
    #[test]
    fn table_text_is_exact() {
        let want = concat!(
            "stage        params  size (MB)  p50 (ms)  accuracy  size ×  speed ×  Δ acc (pts)  notes\n",
            "----------  -------  ---------  --------  --------  ------  -------  -----------  ---------------------\n",
            "baseline    871,018       3.48      1.36    93.20%   1.00×    1.00×        +0.00\n",
            "pruned 50%  225,434      0.902     0.500    92.75%   3.86×    2.72×        -0.45  widths 16, 16, 32, 32\n",
        );
        assert_eq!(sample().to_string(), want);
    }

    #[test]
    fn compare_by_name_lists_known_stages_on_a_typo() {
        let report = sample();
        assert!(report.compare("pruned 50%", "baseline").is_ok());
        let err = report.compare("prunned", "baseline").unwrap_err();
        assert!(err.to_string().contains("\"baseline\", \"pruned 50%\""), "{err}");
    }

    #[test]
    fn figures_keep_three_significant_digits_below_one() {
        assert_eq!(figure(537.3), "537.30");
        assert_eq!(figure(3.484216), "3.48");
        assert_eq!(figure(0.902), "0.902");
        assert_eq!(figure(0.0041234), "0.00412");
        assert_eq!(figure(0.0), "0.00");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(134_309_962), "134,309,962");
    }
}
