//! What the learner prints while it trains: the epoch table, and a progress bar on a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::history::TableLayout;
use super::EpochRecord;

/// How much the learner prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// The table, plus a progress bar over each epoch's batches when stdout is a terminal and the
    /// `CI` environment variable is not set; the table alone otherwise.
    #[default]
    Auto,
    /// The table alone, one plain line per epoch.
    Lines,
    /// Nothing (tests, or callers that print the returned history themselves).
    Quiet,
}

impl Output {
    fn wants_bar(self) -> bool {
        self == Self::Auto && std::io::stdout().is_terminal() && std::env::var_os("CI").is_none()
    }
}

/// Prints one fit's table and drives its progress bar.
pub(crate) struct Reporter {
    output: Output,
    layout: TableLayout,
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub(crate) fn new<'a>(output: Output, metric_names: impl IntoIterator<Item = &'a str>) -> Self {
        Self { output, layout: TableLayout::new(metric_names), bar: None }
    }

    pub(crate) fn start_fit(&self) {
        if self.output != Output::Quiet {
            println!("{}", self.layout.header());
        }
    }

    pub(crate) fn start_epoch(&mut self, epoch: usize, n_epochs: usize, n_batches: usize) {
        if !self.output.wants_bar() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(n_batches as u64), ProgressDrawTarget::stdout());
        let style =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise}<{eta_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("epoch {}/{n_epochs}", epoch + 1));
        self.bar = Some(bar);
    }

    pub(crate) fn batch_done(&self, smooth_loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {smooth_loss:.4}"));
            bar.inc(1);
        }
    }

    pub(crate) fn end_epoch(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.output != Output::Quiet {
            println!("{}", self.layout.row(record));
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
