//! The four figures every stage is judged by, and the words the walkthrough prints them with.

use fasterai::learn::{BatchInput, Classifier};
use fasterai::measure::{measure_stage, Bytes};
pub use fasterai::measure::thousands;
use fasterai::prelude::*;

/// Classes of every dataset the walkthrough knows (digits 0–9, MNIST, Fashion-MNIST).
pub const CLASSES: usize = 10;

/// Measures the learner's model as `stage` (the runtime's `measure_stage`: parameters, safetensors
/// bytes, median batch-1 latency over 100 runs, validation accuracy) and writes `explanation`, the
/// multiply-adds and the thread count into the row's notes.
pub fn measure<M, X>(stage: &str, explanation: &str, learn: &mut Learner<M, X, CLASSES>) -> Result<ReportRow>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let row = measure_stage(stage, learn)?;
    let notes = format!("{explanation} [{} MACs, {}]", thousands(M::num_macs() as u64), row.notes.clone().unwrap_or_default());
    Ok(row.with_notes(notes))
}

/// The model's layers as the derive computed them, one line each.
pub fn describe_model<M: Compressible>(name: &str) -> String {
    let mut text = format!(
        "Model: {name}, {} parameters, {} multiply-adds per image.\n  {:<8} {:>12} {:>10}\n",
        thousands(M::num_params() as u64),
        thousands(M::num_macs() as u64),
        "layer",
        "output",
        "params"
    );
    for layer in M::LAYERS {
        text.push_str(&format!(
            "  {:<8} {:>12} {:>10}\n",
            layer.name,
            layer.output.to_string(),
            thousands(layer.params as u64)
        ));
    }
    text
}

/// One row in words: `stage: 85,258 parameters, 0.34 MB, 0.21 ms, 97.8% accurate`.
pub fn row_in_words(row: &ReportRow) -> String {
    format!(
        "{}: {} parameters, {} on disk, {} per image, {:.2}% accurate.",
        row.stage,
        thousands(row.params as u64),
        size_in_words(row.size),
        row.latency_p50,
        row.accuracy.as_percent()
    )
}

/// A size in kB below a megabyte (`341.8 kB`), in MB from there (`537.30 MB`).
pub fn size_in_words(size: Bytes) -> String {
    if size.0 < 1_000_000 {
        format!("{:.1} kB", size.0 as f64 / 1e3)
    } else {
        size.to_string()
    }
}

/// `1 epoch`, `3 epochs`.
pub fn epochs(n: usize) -> String {
    format!("{n} epoch{}", if n == 1 { "" } else { "s" })
}
