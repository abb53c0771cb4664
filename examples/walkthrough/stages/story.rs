//! The story so far: one report row per stage, the training each stage did, the per-layer
//! sparsity, and the files they are saved to after every stage.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fasterai::compress::StructError;
use fasterai::data::DataLoaders;
use fasterai::learn::{BatchInput, Classifier};
use fasterai::measure::chart::{save_svg, sparsity_svg, stages_svg};
use fasterai::deploy::InferencePlan;
use fasterai::measure::{measure_plan, MeasureError, SpeedReference};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::{describe_model, measure, row_in_words, CLASSES};
use super::settings::Settings;

/// The file name of the saved report inside the output directory.
pub const REPORT_FILE: &str = "report.json";
/// The chart of size and latency per stage.
pub const STAGES_CHART: &str = "stages.svg";
/// The chart of per-layer sparsity (written once a stage has set it).
pub const SPARSITY_CHART: &str = "sparsity.svg";

/// One stage's training: its epochs and wall time.
#[derive(Debug, Clone)]
pub struct Training {
    /// The stage that trained.
    pub stage: &'static str,
    /// Its epoch table.
    pub history: History,
    /// Wall time.
    pub time: Duration,
}

/// What every stage reads (settings, data) and adds to (the report), for models that take
/// batches of shape `X`.
///
/// [`Story::record`] is the end of every stage: it measures the model, prints and stores the
/// row, and rewrites the report and the charts (each through a temporary file renamed into place,
/// so an interrupted run leaves the files of the last finished stage, never half a file).
pub struct Story<X> {
    title: String,
    settings: Settings,
    data: Arc<DataLoaders>,
    report: Report,
    trainings: Vec<Training>,
    sparsity: Vec<(String, f64)>,
    input: PhantomData<fn(X)>,
}

impl<X: BatchInput> Story<X> {
    /// An empty story called `title` (the charts' title), over `data`.
    pub fn new(title: impl Into<String>, settings: Settings, data: impl Into<Arc<DataLoaders>>) -> Self {
        Self {
            title: title.into(),
            settings,
            data: data.into(),
            report: Report::default(),
            trainings: Vec::new(),
            sparsity: Vec::new(),
            input: PhantomData,
        }
    }

    /// The run's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One row per finished stage, in order.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Every training done so far.
    pub fn trainings(&self) -> &[Training] {
        &self.trainings
    }

    /// Per-layer sparsity in percent, as the last stage that measured it found it.
    #[allow(dead_code)] // read by tests/walkthrough_digits.rs
    pub fn sparsity(&self) -> &[(String, f64)] {
        &self.sparsity
    }

    /// Where `report.json` goes.
    pub fn report_path(&self) -> PathBuf {
        self.settings.out_dir.join(REPORT_FILE)
    }

    /// Where a stage's weights go: `<out>/<stage>.safetensors`.
    pub fn weights_path(&self, stage: &str) -> PathBuf {
        self.settings.out_dir.join(format!("{stage}.safetensors"))
    }

    /// `<out>/<file>`, creating the output directory if needed.
    pub fn output_file(&self, file: &str) -> Result<PathBuf> {
        create_dir(&self.settings.out_dir)?;
        Ok(self.settings.out_dir.join(file))
    }

    /// A learner over the story's data, printing as the settings say.
    pub fn learner<M: Classifier<X, CLASSES>>(&self, model: M) -> Learner<M, X, CLASSES> {
        Learner::new(model, self.data.clone()).with_output(self.settings.output)
    }

    /// A learner on the model `convert` (a `from_source` that `compress!` generated) makes of
    /// `model`, once `model` is dropped and the new model is described as `name`; a conversion
    /// error is `stage`'s.
    pub fn learner_on_converted<M, F>(
        &self,
        stage: &'static str,
        model: M,
        name: &str,
        convert: impl FnOnce(&M) -> Result<F, StructError>,
    ) -> Result<Learner<F, X, CLASSES>, StageError>
    where
        F: Classifier<X, CLASSES> + Compressible,
    {
        let converted = convert(&model).stage(stage)?;
        drop(model);
        println!("{}", describe_model::<F>(name));
        Ok(self.learner(converted))
    }

    /// Keeps `history` as `stage`'s training.
    pub fn add_training(&mut self, stage: &'static str, history: History, time: Duration) {
        self.trainings.push(Training { stage, history, time });
    }

    /// Sets the per-layer sparsity `(layer, percent)` the sparsity chart shows.
    pub fn set_sparsity(&mut self, layers: Vec<(String, f64)>) {
        self.sparsity = layers;
    }

    /// Ends a stage: measures the learner's model, prints `explanation` and the figures, adds the
    /// row, saves the weights to `<out>/<stage>.safetensors`, then the report and the charts.
    pub fn record<M>(
        &mut self,
        stage: &'static str,
        explanation: &str,
        learn: &mut Learner<M, X, CLASSES>,
    ) -> Result<&ReportRow, StageError>
    where
        M: Classifier<X, CLASSES> + Compressible + Sync,
    {
        let row = measure(stage, explanation, learn).stage(stage)?;
        println!("{}\n  → {}\n", wrap(explanation, 100), row_in_words(&row));
        create_dir(&self.settings.out_dir).stage(stage)?;
        save_weights(learn.model(), self.weights_path(stage)).stage(stage)?;
        self.report.push(row);
        self.save().stage(stage)?;
        Ok(self.report.rows().last().expect("a row was just pushed"))
    }

    /// Ends a stage whose model is a frozen plan (`Int8Model`, `Accelerated`): measures it with
    /// `measure_plan` (0 trainable parameters, its size, 1-thread latency, accuracy), prints and adds
    /// the row, then saves the report and the charts. The caller saves the plan's own file.
    pub fn record_plan<P: InferencePlan>(
        &mut self,
        stage: &'static str,
        explanation: &str,
        plan: &mut P,
    ) -> Result<&ReportRow, StageError> {
        let row = measure_plan(stage, plan, &self.data.valid).stage(stage)?;
        let notes = format!("{explanation} [{}]", row.notes.clone().unwrap_or_default());
        let row = row.with_notes(notes);
        println!("{}\n  → {}\n", wrap(explanation, 100), row_in_words(&row));
        self.report.push(row);
        self.save().stage(stage)?;
        Ok(self.report.rows().last().expect("a row was just pushed"))
    }

    /// Times `plan` as the latency every row's speed is also compared with (the recap's
    /// `speed × plan` column, `reference` in the report file), so that no ratio rests on the
    /// trained model's own forward alone; `name` says what it is. Measured as `stage`'s.
    pub fn set_speed_reference<P: InferencePlan>(&mut self, stage: &'static str, name: &str, plan: &mut P) -> Result<(), StageError> {
        let row = measure_plan(name, plan, &self.data.valid).stage(stage)?;
        println!("For scale, {name}: {} per image, {:.2}% accurate.\n", row.latency_p50, row.accuracy.as_percent());
        self.report.set_reference(SpeedReference { name: name.to_string(), latency_p50: row.latency_p50 });
        self.save().stage(stage)
    }

    /// The images the model trains on (quantization calibrates on some of them).
    pub fn data(&self) -> &DataLoaders {
        &self.data
    }

    /// Writes the report and the charts (sparsity only once known) under the output directory.
    pub fn save(&self) -> Result<()> {
        let dir = &self.settings.out_dir;
        create_dir(dir)?;
        self.report.save_json(dir.join(REPORT_FILE))?;
        save_svg(dir.join(STAGES_CHART), &stages_svg(&self.title, &self.report))?;
        if !self.sparsity.is_empty() {
            let title = format!("{}: per-layer sparsity", self.title);
            save_svg(dir.join(SPARSITY_CHART), &sparsity_svg(&title, &self.sparsity))?;
        }
        Ok(())
    }
}

fn create_dir(dir: &Path) -> Result<(), MeasureError> {
    std::fs::create_dir_all(dir).map_err(|source| MeasureError::Io {
        action: "create the output directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// `text` broken into lines of at most `width` characters, at spaces.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}
