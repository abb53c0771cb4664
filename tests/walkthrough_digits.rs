//! The walkthrough's stages on the embedded digits with one epoch each: every stage adds its row,
//! each row's claim holds (pruning removes parameters, folding removes every BatchNorm and keeps
//! the outputs, factorizing splits fc1 in two), the report and charts are written and loadable, a
//! failing stage names itself, and the command line turns every mistake into a message.

#[allow(dead_code)]
#[path = "../examples/walkthrough/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../examples/walkthrough/models.rs"]
mod models;
#[allow(dead_code, unused_imports)]
#[path = "../examples/walkthrough/stages/mod.rs"]
mod stages;

use fasterai::data::DataError;
use fasterai::model::read_tensor;
use fasterai::prelude::*;
use models::{DigitsCnn, DigitsInput, FoldedDigits, PrunedDigits, SmallDigits, WideDigitsCnn};
use stages::story::{REPORT_FILE, SPARSITY_CHART, STAGES_CHART};
use stages::{
    DatasetChoice, Settings, Story, ACCELERATED, BASELINE, DISTILLED, FACTORIZED, FOLDED, PRUNED, QUANTIZED, SPARSIFIED,
    STORY, TEACHER,
};

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

/// The digits defaults shortened to one epoch per training, quiet, writing under `out`.
fn short_settings(out: &Scratch) -> Settings {
    let mut settings = Settings::defaults(DatasetChoice::Digits);
    settings.epochs = 1;
    settings.finetune_epochs = 1;
    settings.output = Output::Quiet;
    // A directory that does not exist yet, two levels deep: the first stage creates it.
    settings.out_dir = out.0.join("nested");
    settings
}

fn digits_story(settings: &Settings) -> Story<DigitsInput> {
    let data = stages::load_data(settings).unwrap();
    assert_eq!((data.train.len(), data.valid.len()), (1438, 359), "1797 digits, 20% held out");
    Story::new("test", settings.clone(), data)
}

/// The first `n` validation images as one batch.
fn valid_batch(settings: &Settings, n: usize) -> Tensor<DigitsInput, f32, Cpu> {
    let data = stages::load_data(settings).unwrap();
    let pixels: Vec<f32> = (0..n).flat_map(|i| data.valid.image(i).to_vec()).collect();
    Cpu::default().tensor_from_vec(pixels, (n, Const, Const, Const))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn every_stage_adds_its_row_and_keeps_its_claim() {
    let out = Scratch::new("story");
    let settings = short_settings(&out);
    let mut story = digits_story(&settings);
    let dev = Cpu::seed_from_u64(settings.seed);

    stages::baseline(&mut story, "DigitsCnn", dev.build_module::<DigitsCnn, f32>()).unwrap();
    let teacher = stages::teacher(&mut story, "WideDigitsCnn", dev.build_module::<WideDigitsCnn, f32>()).unwrap();
    let student = stages::distill(&mut story, dev.build_module::<DigitsCnn, f32>(), &teacher).unwrap();
    let sparse = stages::sparsify(&mut story, student).unwrap();
    let pruned = stages::prune(&mut story, sparse.clone(), "PrunedDigits", PrunedDigits::from_source).unwrap();
    let folded = stages::fold(&mut story, pruned.clone(), "FoldedDigits", FoldedDigits::from_source).unwrap();
    let small = stages::factorize(&mut story, folded, "SmallDigits", SmallDigits::from_source).unwrap();
    let quantized = stages::quantize(&mut story, small.clone()).unwrap();
    let mut int8 = stages::accelerate(&mut story, &quantized).unwrap();

    // One row per stage, in the story's order.
    let report = story.report().clone();
    let names: Vec<&str> = report.rows().iter().map(|r| r.stage.as_str()).collect();
    assert_eq!(names, STORY);
    let positions: Vec<usize> = names.iter().map(|n| STORY.iter().position(|s| s == n).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{names:?} follow {STORY:?}");
    let row = |stage: &str| report.row(stage).unwrap();
    for r in report.rows() {
        assert!((0.0..=1.0).contains(&r.accuracy.as_fraction()) && r.latency_p50.0 > 0.0, "{r:?}");
        assert!(r.notes.as_deref().is_some_and(|n| n.len() > 80), "a sentence explains {}", r.stage);
        let weights = story.weights_path(&r.stage);
        assert_eq!(std::fs::metadata(&weights).unwrap().len(), r.size.0, "size on disk is {weights:?}'s");
    }

    // Baseline and teacher: the derive's counts are the weights'; the teacher is the wider one.
    assert_eq!(row(BASELINE).params, DigitsCnn::num_params());
    assert_eq!(row(BASELINE).params, 281_866);
    assert_eq!(row(TEACHER).params, WideDigitsCnn::num_params());
    assert!(row(TEACHER).params > 3 * row(BASELINE).params);
    let baseline_epochs = &story.trainings()[0];
    assert_eq!((baseline_epochs.stage, baseline_epochs.history.epochs.len()), (BASELINE, 1));
    assert_eq!(
        row(BASELINE).accuracy.as_fraction(),
        baseline_epochs.history.last().unwrap().accuracy.get(),
        "the report's accuracy is the epoch table's"
    );

    // Distilled: the baseline's architecture, trained with the teacher.
    assert_eq!((row(DISTILLED).params, row(DISTILLED).size), (row(BASELINE).params, row(BASELINE).size));
    assert_eq!(story.trainings()[2].stage, DISTILLED);

    // Sparsified: same structure, exactly half of each conv's filters zero by the end of the schedule.
    assert_eq!((row(SPARSIFIED).params, row(SPARSIFIED).size), (row(BASELINE).params, row(BASELINE).size));
    let sparsity: Vec<(&str, f64)> = story.sparsity().iter().map(|(n, p)| (n.as_str(), *p)).collect();
    assert_eq!(sparsity, [("conv1", 50.0), ("conv2", 50.0)]);

    // Pruned: fewer parameters, the type's widths, the plan on disk; the zero filters carried
    // nothing, so the pruned model computes what the sparse one did (before fine-tuning: compare
    // with a fresh conversion).
    assert!(row(PRUNED).params < row(SPARSIFIED).params / 2);
    assert_eq!(row(PRUNED).params, PrunedDigits::num_params());
    let plan = PrunePlan::load(settings.out_dir.join(stages::PLAN_FILE)).unwrap();
    let widths: Vec<usize> = plan.layers().iter().map(|l| l.new_width()).collect();
    assert_eq!(widths, [16, 32, 64], "fc1 was not sparsified: it keeps its 64 outputs");
    let x = valid_batch(&settings, 32);
    let unpruned = PrunedDigits::from_source(&sparse, &plan).unwrap();
    let diff = max_abs_diff(&sparse.forward(x.clone()).as_vec(), &unpruned.forward(x.clone()).as_vec());
    assert!(diff <= 1e-4, "removing zero filters changed the outputs by {diff}");

    // Folded: no BatchNorm left, the same outputs as the pruned model.
    let is_bn = |l: &LayerInfo| matches!(l.kind, LayerKindInfo::BatchNorm2D { .. });
    assert_eq!(PrunedDigits::LAYERS.iter().filter(|l| is_bn(l)).count(), 2);
    assert!(!FoldedDigits::LAYERS.iter().any(is_bn), "{:?}", FoldedDigits::LAYERS);
    assert_eq!(row(FOLDED).params, row(PRUNED).params - 2 * (16 + 32), "γ and β of both BatchNorms");
    let refolded = FoldedDigits::from_source(&pruned).unwrap();
    let before = pruned.forward(x.clone()).as_vec();
    let diff = max_abs_diff(&before, &refolded.forward(x.clone()).as_vec());
    assert!(diff <= 1e-4 && before.iter().any(|v| v.abs() > 1e-2), "folding changed the outputs by {diff}");

    // Factorized: fc1 is two layers, 2048 → 32 (no bias) → 64, and the model is smaller.
    let linear = |name: &str| SmallDigits::layer(name).map(|l| l.kind);
    assert_eq!(linear("fc1"), None);
    assert_eq!(linear("fc1_in"), Some(LayerKindInfo::Linear { in_features: 2048, out_features: 32, bias: false }));
    assert_eq!(linear("fc1_out"), Some(LayerKindInfo::Linear { in_features: 32, out_features: 64, bias: true }));
    assert_eq!(read_tensor(&small, "fc1_in.weight").unwrap().shape, [32, 2048]);
    assert!(row(FACTORIZED).params < row(FOLDED).params);
    assert_eq!(row(FACTORIZED).params, num_params(&small));

    // Quantized: the float model after QAT, same size; accelerated: the int8 plan, 0 trainable
    // parameters, about a quarter of the bytes, the same answers as its saved file, and nearly
    // always the same class as the float model it came from.
    assert_eq!((row(QUANTIZED).params, row(QUANTIZED).size), (row(FACTORIZED).params, row(FACTORIZED).size));
    assert_eq!(row(ACCELERATED).params, 0);
    let ratio = row(ACCELERATED).size.0 as f64 / row(QUANTIZED).size.0 as f64;
    assert!((0.24..0.32).contains(&ratio), "int8 file is {ratio} of the float one");
    let mut reloaded = fasterai::deploy::Int8Model::<SmallDigits>::load(story.weights_path(ACCELERATED)).unwrap();
    // Beside it, the same plan as an ONNX file of standard operators.
    let onnx = std::fs::read(story.weights_path(ACCELERATED).with_extension("onnx")).unwrap();
    assert_eq!(onnx, fasterai::deploy::onnx::OnnxModel::int8(&int8).unwrap().to_bytes());
    let data = stages::load_data(&settings).unwrap();
    let mut agree = 0;
    for i in 0..data.valid.len() {
        let image = data.valid.image(i);
        let logits = int8.run(image).unwrap().to_vec();
        assert_eq!(reloaded.run(image).unwrap(), logits.as_slice(), "the saved int8 model answers bit for bit");
        let float = quantized.forward(Cpu::default().tensor_from_vec(image.to_vec(), (1, Const, Const, Const))).as_vec();
        let argmax = |v: &[f32]| (0..v.len()).fold(0, |b, k| if v[k] > v[b] { k } else { b });
        agree += usize::from(argmax(&logits) == argmax(&float));
    }
    assert!(agree * 100 >= data.valid.len() * 95, "int8 agrees with float on {agree}/{}", data.valid.len());

    // The files: the report as saved after the last stage, and both charts naming every row.
    let saved = Report::load_json(settings.out_dir.join(REPORT_FILE)).unwrap();
    assert_eq!(saved.rows().len(), report.rows().len());
    // serde_json's `float_roundtrip` parses every number back to the same bits.
    assert_eq!(saved, report);
    // Beside the rows, the file holds each stage's ratios against the baseline, as the recap prints them.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(settings.out_dir.join(REPORT_FILE)).unwrap()).unwrap();
    let last = json["against_baseline"].as_array().unwrap().last().unwrap().clone();
    let want = report.compare("accelerated", "baseline").unwrap();
    assert_eq!(last["stage"], "accelerated");
    assert_eq!(last["smaller"].as_f64(), want.smaller.map(|t| t.0));
    assert_eq!(last["faster"].as_f64(), want.faster.map(|t| t.0));
    let chart = std::fs::read_to_string(settings.out_dir.join(STAGES_CHART)).unwrap();
    assert!(names.iter().all(|n| chart.contains(n)), "{chart}");
    let chart = std::fs::read_to_string(settings.out_dir.join(SPARSITY_CHART)).unwrap();
    assert!(chart.contains("conv2") && chart.contains("50.00%"), "{chart}");
    let leftovers: Vec<_> = std::fs::read_dir(&settings.out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The recap: every stage, the final ratios against the baseline, nothing missing.
    let recap = stages::recap_text(&report).unwrap();
    assert!(names.iter().all(|n| recap.contains(n)), "{recap}");
    let smaller = report.compare(ACCELERATED, BASELINE).unwrap().smaller.unwrap().0;
    assert!(recap.contains(&format!("{smaller:.2}× smaller on disk")), "{recap}");
    assert!(!recap.contains("not run yet"), "{recap}");
    // Every stage's speed against the baseline frozen into an fp32 plan too: in the recap and the file.
    let reference = report.reference().expect("the baseline's fp32 plan is the speed reference");
    assert!(reference.name == stages::REFERENCE && reference.latency_p50.0 > 0.0, "{reference:?}");
    assert!(recap.contains("speed × plan") && recap.contains(&format!("Against {}", stages::REFERENCE)), "{recap}");
    assert_eq!(Report::load_json(settings.out_dir.join(REPORT_FILE)).unwrap().reference(), Some(reference));
}

#[test]
fn a_failing_stage_names_itself() {
    let out = Scratch::new("failing");
    let settings = short_settings(&out);
    let mut story = digits_story(&settings);
    // Nothing was zeroed: the plan keeps all 32 filters of conv1, which PrunedDigits cannot hold.
    let dense = Cpu::seed_from_u64(1).build_module::<DigitsCnn, f32>();
    let error = stages::prune(&mut story, dense, "PrunedDigits", PrunedDigits::from_source).err().unwrap();
    assert_eq!(error.stage, PRUNED);
    let message = error.to_string();
    assert!(message.starts_with("stage `pruned` failed: ") && message.contains("conv1"), "{message}");
    assert!(story.report().rows().is_empty(), "a failed stage adds no row");
    assert!(stages::recap_text(story.report()).is_err(), "no recap without a baseline");
}

#[test]
fn the_description_lists_every_layer() {
    let text = stages::measuring::describe_model::<DigitsCnn>("DigitsCnn");
    assert!(text.contains("281,866 parameters"), "{text}");
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
