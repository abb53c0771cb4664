//! The four figures every stage is judged by, and the words the walkthrough prints them with.

use fasterai::learn::{BatchInput, Classifier};
use fasterai::measure::{Accuracy, Bytes, Latency};
use fasterai::prelude::*;

/// Classes of every dataset the walkthrough knows (digits 0–9, MNIST, Fashion-MNIST).
pub const CLASSES: usize = 10;

/// Timed single-image runs per latency measurement (after 10 untimed ones).
const LATENCY_RUNS: usize = 100;

/// The figures of the learner's model as one report row named `stage`: parameters, size on disk
/// (the safetensors file's bytes), median single-image CPU latency and validation accuracy. The
/// notes hold `explanation`, then the multiply-adds per image and the thread count.
///
/// The latency is the median of [`LATENCY_RUNS`] forward passes on the first validation image, in
/// rayon's default pool (one thread per core).
pub fn measure<M, X>(stage: &str, explanation: &str, learn: &mut Learner<M, X, CLASSES>) -> Result<ReportRow>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let accuracy = Accuracy::from_fraction(learn.validate()?.accuracy.get())?;
    let model = learn.model();
    let params = num_params::<f32, Cpu, M>(model);
    let size = model_size::<f32, Cpu, M>(model)?;
    let latency = single_image_latency(learn)?;
    let notes = format!(
        "{explanation} [{} MACs, {} threads]",
        thousands(M::num_macs() as u64),
        latency.threads
    );
    Ok(ReportRow::new(stage, params, size, latency.p50, accuracy).with_notes(notes))
}

fn single_image_latency<M, X>(learn: &Learner<M, X, CLASSES>) -> Result<Latency>
where
    M: Classifier<X, CLASSES> + Sync,
    X: BatchInput,
{
    let valid = &learn.data().valid;
    let image = X::from_images(learn.device(), valid.image(0).to_vec(), valid.shape())?;
    let model = learn.model();
    let options = LatencyOptions::default().runs(LATENCY_RUNS);
    Ok(cpu_latency(|x| model.try_forward(x.clone()), &image, &options)?)
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

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
