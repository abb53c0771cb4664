//! The end of the story: every stage in one table, and the final model against the baseline.

use fasterai::measure::{text_table, Align, Comparison, MeasureError, Times};
use fasterai::prelude::*;

use super::baseline::BASELINE;
use super::measuring::{size_in_words, thousands};
use super::STORY;

/// The table of every stage (params, size, latency, accuracy, and each against the baseline, and
/// its speed against the report's speed reference when set), then one sentence comparing the last
/// stage with the baseline (and one with the reference), then the stages of the full story this
/// run did not reach. Errors when the report has no baseline row.
pub fn recap_text(report: &Report) -> Result<String, MeasureError> {
    let last = report.rows().last().map_or(BASELINE, |r| r.stage.as_str());
    let overall = report.compare(last, BASELINE)?;
    let baseline = report.row(BASELINE).expect("compare found the baseline");

    let mut headers = vec!["stage", "params", "size", "latency p50", "accuracy", "size ×", "speed ×"];
    if report.reference().is_some() {
        headers.push("speed × plan");
    }
    headers.push("Δ acc (pts)");
    let times = |t: Option<Times>| t.map_or_else(|| "n/a".to_string(), |t| format!("{:.2}×", t.0));
    let cells: Vec<Vec<String>> = report
        .rows()
        .iter()
        .map(|row| {
            let c = row.compare(baseline);
            let mut cells = vec![
                row.stage.clone(),
                thousands(row.params as u64),
                size_in_words(row.size),
                format!("{:.3} ms", row.latency_p50.0),
                format!("{:.2}%", row.accuracy.as_percent()),
                times(c.smaller),
                times(c.faster),
            ];
            if let Some(reference) = report.reference() {
                cells.push(times(reference.faster(row)));
            }
            cells.push(format!("{:+.2}", c.accuracy_change.0));
            cells
        })
        .collect();
    let align = |i: usize| if i == 0 { Align::Left } else { Align::Right };
    let mut text = text_table(&headers, &cells, align);
    text.push_str(&format!("\n{}\n", in_words(last, &overall)));
    if let (Some(reference), Some(row)) = (report.reference(), report.row(last)) {
        let faster = times(reference.faster(row));
        text.push_str(&format!("Against {} ({:.3} ms per image): {faster} faster.\n", reference.name, reference.latency_p50.0));
    }
    let missing: Vec<&str> = STORY.iter().copied().filter(|s| report.row(s).is_none()).collect();
    if !missing.is_empty() {
        text.push_str(&format!("Stages of the full story not run yet: {}.\n", missing.join(", ")));
    }
    Ok(text)
}

/// `From the baseline to `factorized`: 3.57× smaller on disk, 2.10× faster, accuracy -0.28 points.`
fn in_words(last: &str, c: &Comparison) -> String {
    let times = |t: Option<Times>| t.map_or_else(|| "n/a".to_string(), |t| format!("{:.2}×", t.0));
    let params = match c.fewer_params {
        Some(t) => format!("{:.2}× fewer parameters", t.0),
        None => "no trainable parameter left (a frozen plan)".to_string(),
    };
    format!(
        "From the baseline to `{last}`: {params}, {} smaller on disk, {} faster on one image, \
         accuracy {:+.2} points.",
        times(c.smaller),
        times(c.faster),
        c.accuracy_change.0
    )
}
