//! Bar charts as SVG text, for the figures of a [`Report`] and per-layer sparsity.
//!
//! The SVG is written by hand (no plotting dependency): one panel per figure, horizontal bars with
//! the category on the left and the value at the end of each bar, a labelled value axis with ticks
//! at 0, half and the largest value. Every piece of text is escaped, so stage or layer names may
//! hold any character. [`save_svg`] writes a chart through a temporary file renamed into place.
//!
//! ```
//! use fasterai_runtime::measure::chart::{bar_chart_svg, Bar, BarPanel};
//! let panel = BarPanel::new("Size on disk", "size (MB)", vec![
//!     Bar::new("baseline", 0.34, "0.34 MB"),
//!     Bar::new("pruned", 0.09, "0.09 MB"),
//! ]);
//! let svg = bar_chart_svg("Digits CNN", &[panel]);
//! assert!(svg.starts_with("<svg") && svg.contains("pruned") && svg.contains("0.09 MB"));
//! ```

use std::fmt::Write as _;
use std::path::Path;

use super::{MeasureError, Report};
use crate::fsutil::write_atomic;

/// Width of the whole picture, in SVG user units (pixels).
const WIDTH: f64 = 760.0;
/// Room for the category labels left of the bars.
const LABEL_WIDTH: f64 = 150.0;
/// Room for the value text right of the longest bar.
const VALUE_WIDTH: f64 = 110.0;
/// Height of one bar plus its gap.
const ROW_HEIGHT: f64 = 24.0;
/// Height of one bar.
const BAR_HEIGHT: f64 = 16.0;
/// Space above a panel's first bar (panel title) and below its last one (axis, ticks, axis label).
const PANEL_TOP: f64 = 34.0;
const PANEL_BOTTOM: f64 = 52.0;
/// Space for the chart title.
const TITLE_HEIGHT: f64 = 36.0;
/// Bar colours, one per panel in turn.
const COLOURS: [&str; 3] = ["#4C78A8", "#F58518", "#54A24B"];

/// One bar: its category, its length and the text printed beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The category (a stage, a layer).
    pub label: String,
    /// The length; negative or non-finite values draw no bar.
    pub value: f64,
    /// The value as printed, with its unit ("0.34 MB").
    pub text: String,
}

impl Bar {
    /// A bar of `value` labelled `label`, showing `text` at its end.
    pub fn new(label: impl Into<String>, value: f64, text: impl Into<String>) -> Self {
        Self { label: label.into(), value, text: text.into() }
    }
}

/// One panel: a title, the label of its value axis, and its bars from top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct BarPanel {
    /// Printed above the bars.
    pub title: String,
    /// Printed under the value axis, with the unit ("latency p50 (ms)").
    pub axis: String,
    /// The bars, top first.
    pub bars: Vec<Bar>,
    /// The value axis ends here when set (e.g. 100 for percentages); else at the largest value.
    pub axis_max: Option<f64>,
}

impl BarPanel {
    /// A panel whose axis ends at its largest value.
    pub fn new(title: impl Into<String>, axis: impl Into<String>, bars: Vec<Bar>) -> Self {
        Self { title: title.into(), axis: axis.into(), bars, axis_max: None }
    }

    /// The same panel with its value axis ending at `max`.
    pub fn with_axis_max(mut self, max: f64) -> Self {
        self.axis_max = Some(max);
        self
    }

    fn height(&self) -> f64 {
        PANEL_TOP + ROW_HEIGHT * self.bars.len().max(1) as f64 + PANEL_BOTTOM
    }

    /// The end of the value axis: `axis_max`, else the largest finite value, else 1.
    fn scale_max(&self) -> f64 {
        let largest = self.bars.iter().map(|b| b.value).filter(|v| v.is_finite()).fold(0.0, f64::max);
        match self.axis_max {
            Some(max) if max.is_finite() && max > 0.0 => max.max(largest),
            _ if largest > 0.0 => largest,
            _ => 1.0,
        }
    }
}

/// `text` with the five XML special characters replaced by entities.
///
/// ```
/// use fasterai_runtime::measure::chart::escape;
/// assert_eq!(escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&apos;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A tick value printed short: `0`, `0.5`, `12.3`, `140`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// An SVG picture of `panels` stacked from top to bottom under `title`.
pub fn bar_chart_svg(title: &str, panels: &[BarPanel]) -> String {
    let height = TITLE_HEIGHT + panels.iter().map(BarPanel::height).sum::<f64>() + 8.0;
    let mut svg = String::new();
    // `write!` to a String cannot fail.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let mut top = TITLE_HEIGHT;
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut svg, panel, top, COLOURS[i % COLOURS.len()]);
        top += panel.height();
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &BarPanel, top: f64, colour: &str) {
    let left = LABEL_WIDTH;
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let max = panel.scale_max();
    let _ = writeln!(svg, r#"<g class="panel">"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        top + 18.0,
        escape(&panel.title)
    );
    let bars_top = top + PANEL_TOP;
    let axis_y = bars_top + ROW_HEIGHT * panel.bars.len().max(1) as f64;
    if panel.bars.is_empty() {
        let _ = writeln!(svg, r##"<text x="{left}" y="{}" fill="#666">no data</text>"##, bars_top + 14.0);
    }
    for (row, bar) in panel.bars.iter().enumerate() {
        let y = bars_top + ROW_HEIGHT * row as f64;
        let length = if bar.value.is_finite() && bar.value > 0.0 { span * (bar.value / max).min(1.0) } else { 0.0 };
        let middle = y + BAR_HEIGHT / 2.0 + 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{middle}" text-anchor="end">{}</text>"#,
            left - 8.0,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{left}" y="{y}" width="{length:.2}" height="{BAR_HEIGHT}" fill="{colour}"/>"#
        );
        let _ = writeln!(svg, r#"<text x="{:.2}" y="{middle}">{}</text>"#, left + length + 6.0, escape(&bar.text));
    }
    // The value axis: a line, three ticks, the axis label; the category axis: a line.
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        left + span
    );
    let _ = writeln!(svg, r##"<line x1="{left}" y1="{bars_top}" x2="{left}" y2="{axis_y}" stroke="#333"/>"##);
    for fraction in [0.0, 0.5, 1.0] {
        let x = left + span * fraction;
        let _ = writeln!(svg, r##"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#333"/>"##, axis_y + 5.0);
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
            axis_y + 17.0,
            tick(max * fraction)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + span / 2.0,
        axis_y + 34.0,
        escape(&panel.axis)
    );
    let _ = writeln!(svg, "</g>");
}

/// Size on disk (MB) and single-image latency (ms) of every stage of `report`, two panels.
///
/// ```
/// use fasterai_runtime::measure::{chart::stages_svg, Accuracy, Bytes, Millis, Report, ReportRow};
/// let mut report = Report::default();
/// report.push(ReportRow::new("baseline", 1000, Bytes(4_000_000), Millis(2.0), Accuracy::from_percent(95.0)?));
/// report.push(ReportRow::new("pruned", 250, Bytes(1_000_000), Millis(0.5), Accuracy::from_percent(94.5)?));
/// let svg = stages_svg("Walkthrough", &report);
/// assert!(svg.contains("4.00 MB") && svg.contains("0.500 ms"));
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
pub fn stages_svg(title: &str, report: &Report) -> String {
    let size = report
        .rows()
        .iter()
        .map(|r| Bar::new(&r.stage, r.size.megabytes(), format!("{} MB", short(r.size.megabytes()))))
        .collect();
    let latency = report
        .rows()
        .iter()
        .map(|r| Bar::new(&r.stage, r.latency_p50.0, format!("{} ms", short(r.latency_p50.0))))
        .collect();
    bar_chart_svg(
        title,
        &[
            BarPanel::new("Size on disk per stage", "size of the saved weights (MB)", size),
            BarPanel::new("Single-image CPU latency per stage", "median latency, batch 1 (ms)", latency),
        ],
    )
}

/// The share of zero weights of each layer, `(layer, percent)`, on an axis from 0 to 100%.
///
/// ```
/// use fasterai_runtime::measure::chart::sparsity_svg;
/// let svg = sparsity_svg("After sparsifying", &[("conv1".into(), 50.0), ("conv2".into(), 49.6)]);
/// assert!(svg.contains("conv2") && svg.contains("49.60%"));
/// ```
pub fn sparsity_svg(title: &str, layers: &[(String, f64)]) -> String {
    let bars = layers.iter().map(|(name, pct)| Bar::new(name, *pct, format!("{pct:.2}%"))).collect();
    let panel = BarPanel::new("Zero weights per layer", "sparsity (% of the layer's weights)", bars).with_axis_max(100.0);
    bar_chart_svg(title, &[panel])
}

/// Two decimals from 1 up, three significant digits below (as the report table prints).
fn short(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 || !v.is_finite() {
        format!("{v:.2}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(2) as usize;
        format!("{v:.decimals$}")
    }
}

/// Writes `svg` to `path` through a temporary file renamed into place (the directory must exist).
pub fn save_svg(path: impl AsRef<Path>, svg: &str) -> Result<(), MeasureError> {
    let path = path.as_ref();
    write_atomic(path, svg.as_bytes()).map_err(|source| MeasureError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::ScratchDir;
    use crate::measure::{Accuracy, Bytes, Millis, ReportRow};

    /// Checks that every `<tag ...>` is closed by a matching `</tag>` (or is `<tag .../>`), in
    /// nesting order, that no raw `&` starts anything but an entity, and that there is exactly one
    /// root element. Returns the text between tags, entities decoded.
    fn well_formed(svg: &str) -> String {
        let mut stack: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut roots = 0;
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            text.push_str(&rest[..open]);
            let close = rest[open..].find('>').expect("a `<` without `>`") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "nested `<` in {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "closing {name}");
            } else {
                let name = tag.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1, "one root element");
        for (i, _) in svg.match_indices('&') {
            let entity = &svg[i..svg[i..].find(';').map_or(svg.len(), |e| i + e + 1)];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "raw & at {i}: {entity}");
        }
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
    }

    fn report() -> Report {
        let mut report = Report::default();
        let row = |stage: &str, size: u64, ms: f64| {
            ReportRow::new(stage, 10, Bytes(size), Millis(ms), Accuracy::from_percent(90.0).unwrap())
        };
        report.push(row("baseline", 1_128_000, 0.41));
        report.push(row("pruned <50%> & co", 290_000, 0.12));
        report.push(row("factorized", 95_800, 0.09));
        report
    }

    #[test]
    fn the_stages_chart_is_well_formed_and_shows_every_stage_and_value() {
        let svg = stages_svg("Digits \"CNN\"", &report());
        let text = well_formed(&svg);
        for expected in [
            "Digits \"CNN\"",
            "baseline",
            "pruned <50%> & co",
            "factorized",
            "1.13 MB",
            "0.290 MB",
            "0.0958 MB",
            "0.410 ms",
            "0.120 ms",
            "0.0900 ms",
            "size of the saved weights (MB)",
            "median latency, batch 1 (ms)",
        ] {
            assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
        }
        // Two panels, three bars each, plus the white background.
        assert_eq!(svg.matches("<rect").count(), 7);
        assert_eq!(svg.matches("<g class=\"panel\">").count(), 2);
    }

    #[test]
    fn bars_are_proportional_to_their_values() {
        let panel = BarPanel::new("p", "x", vec![Bar::new("a", 4.0, "4"), Bar::new("b", 1.0, "1")]);
        let svg = bar_chart_svg("t", &[panel]);
        let widths: Vec<f64> = svg
            .lines()
            .filter(|l| l.starts_with("<rect") && l.contains("height=\"16\""))
            .map(|l| {
                let w = l.split("width=\"").nth(1).unwrap();
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths.len(), 2);
        assert!((widths[0] - WIDTH + LABEL_WIDTH + VALUE_WIDTH).abs() < 0.01, "the largest spans the axis");
        assert!((widths[0] / widths[1] - 4.0).abs() < 1e-3, "{widths:?}");
    }

    #[test]
    fn the_sparsity_chart_runs_from_0_to_100_percent() {
        let layers = vec![("conv1".to_string(), 50.0), ("conv2".to_string(), 25.5), ("fc1".to_string(), 0.0)];
        let text = well_formed(&sparsity_svg("Sparsity", &layers));
        for expected in ["conv1", "conv2", "fc1", "50.00%", "25.50%", "0.00%", "100", "sparsity (%"] {
            assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
        }
    }

    #[test]
    fn empty_and_odd_inputs_still_make_a_valid_picture() {
        let text = well_formed(&bar_chart_svg("nothing", &[BarPanel::new("p", "x", vec![])]));
        assert!(text.contains("no data"));
        let odd = BarPanel::new("p", "x", vec![Bar::new("nan", f64::NAN, "n/a"), Bar::new("neg", -1.0, "-1")]);
        let svg = bar_chart_svg("odd", &[odd]);
        well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("width=\"-"), "{svg}");
    }

    #[test]
    fn save_writes_the_file_atomically() {
        let dir = ScratchDir::new("chart").unwrap();
        let path = dir.path().join("stages.svg");
        let svg = stages_svg("t", &report());
        save_svg(&path, &svg).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), svg);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        let err = save_svg(dir.path().join("missing/dir/x.svg"), &svg).unwrap_err();
        assert!(matches!(err, MeasureError::Io { action: "write", .. }));
    }
}
