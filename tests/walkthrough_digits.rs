//! The walkthrough's pipeline on the embedded digits, one epoch: the report it saves has the
//! structure later stages build on, its figures agree with the measuring tools, and the command
//! line turns every mistake into a message.

#[allow(dead_code)]
#[path = "../examples/walkthrough/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../examples/walkthrough/models.rs"]
mod models;
#[allow(dead_code)]
#[path = "../examples/walkthrough/stages.rs"]
mod stages;

use fasterai::data::DataError;
use fasterai::prelude::*;
use models::{DigitsCnn, DigitsInput};
use stages::{DatasetChoice, Settings, BASELINE};

/// A directory of its own under the system temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fasterai-walkthrough-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn one_epoch_on_digits_saves_a_consistent_report() {
    let out = Scratch::new("digits");
    let mut settings = Settings::defaults(DatasetChoice::Digits);
    settings.epochs = 1;
    settings.output = Output::Quiet;
    // A directory that does not exist yet, two levels deep: the stage creates it.
    settings.out_dir = out.0.join("nested");

    let data = stages::load_data(&settings).unwrap();
    let (train_len, valid_len) = (data.train.len(), data.valid.len());
    assert_eq!((train_len, valid_len), (1438, 359), "1797 digits, 20% held out");
    let model = Cpu::seed_from_u64(settings.seed).build_module::<DigitsCnn, f32>();
    let run = stages::run_baseline::<_, DigitsInput>("DigitsCnn", model, data, &settings).unwrap();

    let rows = run.report.rows();
    assert_eq!(rows.len(), 1, "the baseline alone until compression stages land");
    let baseline = &rows[0];
    assert_eq!(baseline.stage, BASELINE);
    assert_eq!(baseline.params, 38_378);
    assert_eq!(baseline.params, DigitsCnn::num_params(), "the derive's count equals the weights'");
    assert_eq!(baseline.params, num_params(&run.model));
    assert_eq!(baseline.size, model_size(&run.model).unwrap(), "the size is the saved model's");
    assert!(baseline.latency_p50.0 > 0.0);
    for row in [baseline, &run.untrained] {
        assert!((0.0..=1.0).contains(&row.accuracy.as_fraction()), "{row:?}");
    }
    assert_eq!(
        (run.untrained.params, run.untrained.size),
        (baseline.params, baseline.size),
        "training changes values, not the structure"
    );
    assert!(baseline.notes.as_deref().unwrap_or_default().contains("337,536 MACs"), "{baseline:?}");
    assert_eq!(run.history.epochs.len(), 1);
    assert_eq!(
        baseline.accuracy.as_fraction(),
        run.history.last().unwrap().accuracy.get(),
        "the report's accuracy is the epoch table's"
    );

    assert_eq!(run.report_path, settings.out_dir.join(stages::REPORT_FILE));
    assert_eq!(Report::load_json(&run.report_path).unwrap(), run.report, "the JSON holds the report");

    let weights = stages::save_model(&run.model, BASELINE, &settings.out_dir).unwrap();
    assert_eq!(
        std::fs::metadata(&weights).unwrap().len(),
        baseline.size.0,
        "size on disk is the saved file's"
    );
    let mut reloaded = Cpu::default().build_module::<DigitsCnn, f32>();
    load_weights(&mut reloaded, &weights).unwrap();
    assert_eq!(num_params(&reloaded), baseline.params);
}

#[test]
fn the_description_lists_every_layer() {
    let text = stages::describe_model::<DigitsCnn>("DigitsCnn");
    assert!(text.contains("38,378 parameters") && text.contains("337,536 multiply-adds"), "{text}");
    for layer in DigitsCnn::LAYERS {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(layer.name)),
            "{} missing:\n{text}",
            layer.name
        );
    }
}

#[test]
fn a_missing_data_directory_is_a_data_error() {
    let mut settings = Settings::defaults(DatasetChoice::FashionMnist);
    settings.data_dir = Some(Scratch::new("absent").0.join("fashion-mnist"));
    match stages::load_data(&settings) {
        Err(fasterai::Error::Data(DataError::MissingDir { path })) => {
            assert_eq!(Some(path), settings.data_dir)
        }
        other => panic!("expected MissingDir, got {:?}", other.map(|d| d.train.len())),
    }
}

fn parse(line: &str) -> Result<Settings, args::UsageError> {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    args::parse_args(&args)
}

#[test]
fn flags_set_settings_on_top_of_the_dataset_defaults() {
    let s = parse("").unwrap();
    assert_eq!((s.dataset, s.epochs, s.batch_size, s.seed), (DatasetChoice::Digits, 8, 64, 42));
    assert_eq!(s.data_dir, None);

    // --dataset may come after the flags it gives defaults to.
    let s =
        parse("--epochs 1 --train-subset 10000 --batch-size 128 --seed 7 --out o --dataset fashion-mnist")
            .unwrap();
    assert_eq!(s.dataset, DatasetChoice::FashionMnist);
    assert_eq!((s.epochs, s.train_subset, s.batch_size, s.seed), (1, Some(10_000), 128, 7));
    assert_eq!(s.out_dir, std::path::PathBuf::from("o"));
    assert_eq!(s.data_dir.as_deref(), Some(std::path::Path::new("data/fashion-mnist")));
    assert_eq!(
        parse("--dataset mnist --data d").unwrap().data_dir.as_deref(),
        Some(std::path::Path::new("d"))
    );
}

#[test]
fn bad_flags_are_messages_naming_the_flag() {
    let table = [
        ("--epochs 0", "`--epochs` takes a whole number above 0, got `0`"),
        ("--batch-size many", "`--batch-size` takes a whole number above 0, got `many`"),
        ("--seed -1", "`--seed` takes a whole number, got `-1`"),
        ("--dataset cifar", "unknown dataset `cifar`; choose one of digits, mnist, fashion-mnist"),
        ("--colour red", "unknown flag `--colour`"),
        ("--train-subset", "`--train-subset` needs a value"),
        ("--data d", "`--data` is for mnist and fashion-mnist; digits are embedded"),
    ];
    for (line, message) in table {
        match parse(line) {
            Err(args::UsageError(m)) => assert_eq!(m, message, "{line}"),
            Ok(s) => panic!("`{line}` was accepted: {s:?}"),
        }
    }
}
