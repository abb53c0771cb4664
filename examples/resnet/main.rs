//! Residual networks, compressed: the Python walkthrough's ResNet story in Rust.
//!
//! ```sh
//! cargo run --release --example resnet                      # the embedded 8×8 digits
//! scripts/fetch-data.sh                                      # once, for the 28×28 set
//! cargo run --release --example resnet -- --dataset fashion-mnist --data data/fashion-mnist
//! ```
//!
//! 1. Accuracy: a small ResNet is trained, then one `compress!` schedule zeroes 30% of its filters
//!    while it fine-tunes (a channel group's in every member at once), prunes them (30% of every
//!    channel group and block interior), folds every BatchNorm (the shortcuts' too) and quantizes it
//!    to int8, fine-tuning after each stage; the report gives
//!    parameters, size, latency and accuracy after each. On the digits, `DigitsResNet` (two stages
//!    of two basic blocks); on Fashion-MNIST, `ResNet8` (three stages of one block, 28×28).
//! 2. Size and speed at full scale: torchvision's ResNet-18 (10 classes, 3×224×224, random weights:
//!    speed does not depend on them, accuracy would need ImageNet) pruned by 30% with the same
//!    kind of schedule, and the fp32 and int8 plans of both, batch 1.
//!
//! A skip connection makes the layers adding into it share their channels: `compress!` takes one
//! width per channel group ([`Compressible::CHANNEL_GROUPS`]) and refuses, at compile time, a
//! width that would split one.

use std::path::PathBuf;

use fasterai::compress::sparsify::{Context as Ranking, Criteria, Criterion};
use fasterai::data::{fashion_mnist_dir, DataLoaders, Dataset};
use fasterai::deploy::{accelerate, quantize_static, QuantizeOptions};
use fasterai::measure::{cpu_latency, model_size, LatencyOptions};
use fasterai::prelude::*;

#[macro_use]
#[path = "../../tests/support/resnet.rs"]
#[allow(dead_code)]
mod resnet;
use resnet::{DigitsResNet, ResNet18, ResNet8};

compress! {
    /// DigitsResNet after the story: 30% of the filters zeroed while it fine-tunes (a channel
    /// group's in all its members at once), those filters pruned, BatchNorms folded, int8.
    pub DeployedDigitsResNet = DigitsResNet {
        sparsify(30%, granularity = filter, epochs = 3, lr = 2e-3),
        prune(30%, epochs = 3, lr = 2e-3),
        fold(),
        quantize(epochs = 1, lr = 1e-3),
    }
}

compress! {
    /// ResNet8 after the story, on the walkthrough's Fashion-MNIST protocol (two epochs at 1e-4
    /// while sparsifying and after pruning, one of quantization-aware training).
    pub DeployedResNet8 = ResNet8 {
        sparsify(30%, granularity = filter, epochs = 2, lr = 1e-4),
        prune(30%, epochs = 2, lr = 1e-4),
        fold(),
        quantize(epochs = 1, lr = 1e-4),
    }
}

compress! {
    /// ResNet-18 with 30% of every channel group and block interior pruned, BatchNorms folded.
    pub SmallResNet18 = ResNet18 { prune(30%), fold() }
}

/// Which story `--dataset` asks for.
enum Story {
    Digits,
    Fashion { dir: PathBuf, train_subset: Option<usize> },
}

const USAGE: &str = "\
Usage: cargo run --release --example resnet -- [--dataset digits|fashion-mnist] [--data DIR] [--train-subset N] [--skip-resnet18]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (story, resnet18) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    match story {
        Story::Digits => digits_story()?,
        Story::Fashion { dir, train_subset } => fashion_story(dir, train_subset)?,
    }
    if resnet18 {
        resnet18_figures()?;
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<(Story, bool), String> {
    let (mut dataset, mut dir, mut subset, mut resnet18) = ("digits".to_string(), None, None, true);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--dataset" => dataset = value()?,
            "--data" => dir = Some(PathBuf::from(value()?)),
            "--train-subset" => {
                let n = value()?;
                subset = Some(n.parse().ok().filter(|&n: &usize| n > 0).ok_or(format!("`--train-subset` takes a whole number above 0, got `{n}`"))?);
            }
            "--skip-resnet18" => resnet18 = false,
            "--help" | "-h" => return Err("help".into()),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    match dataset.as_str() {
        "digits" if dir.is_none() && subset.is_none() => Ok((Story::Digits, resnet18)),
        "digits" => Err("`--data` and `--train-subset` are for fashion-mnist; the digits are embedded".into()),
        "fashion-mnist" => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("data/fashion-mnist"));
            Ok((Story::Fashion { dir, train_subset: subset }, resnet18))
        }
        other => Err(format!("unknown dataset `{other}`; choose digits or fashion-mnist")),
    }
}

fn digits_story() -> Result<(), Box<dyn std::error::Error>> {
    println!("DigitsResNet on the 8×8 digits: a stem, 2 stages × 2 basic blocks, {} parameters\n", DigitsResNet::num_params());
    let (train, valid) = digits(0.2, 0)?;
    let data = DataLoaders::new(train, valid, 32, 0);
    let model = Cpu::seed_from_u64(0).build_module::<DigitsResNet, f32>();
    let mut learn: Learner<DigitsResNet, (usize, Const<1>, Const<8>, Const<8>), 10> =
        Learner::new(model, data.clone()).with_output(Output::Lines);
    learn.fit_one_cycle(8, 1e-2)?;
    let compressed = DeployedDigitsResNet::compress(learn.into_model(), data, Output::Lines)?;
    recap(&compressed.report);
    Ok(())
}

fn fashion_story(dir: PathBuf, train_subset: Option<usize>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut train, valid): (Dataset, Dataset) = fashion_mnist_dir(&dir)?;
    if let Some(n) = train_subset {
        train = train.subset(n, 42)?;
    }
    println!(
        "ResNet8 on Fashion-MNIST ({} training, {} test images): a stem, 3 stages × 1 basic block, {} parameters\n",
        train.len(),
        valid.len(),
        ResNet8::num_params()
    );
    let data = DataLoaders::new(train, valid, 64, 42);
    let model = Cpu::seed_from_u64(42).build_module::<ResNet8, f32>();
    let mut learn: Learner<ResNet8, (usize, Const<1>, Const<28>, Const<28>), 10> =
        Learner::new(model, data.clone()).with_output(Output::Lines);
    learn.fit_one_cycle(3, 1e-3)?;
    let compressed = DeployedResNet8::compress(learn.into_model(), data, Output::Lines)?;
    recap(&compressed.report);
    Ok(())
}

/// The last stage against the first: how much smaller and faster, and the accuracy it cost.
fn recap(report: &fasterai::measure::Report) {
    let (Some(first), Some(last)) = (report.rows().first(), report.rows().last()) else { return };
    let c = last.compare(first);
    let times = |t: Option<fasterai::measure::Times>| t.map_or("n/a".to_string(), |t| format!("{:.2}×", t.0));
    println!(
        "\n{} against {}: {} smaller, {} faster, {:+.2} points of accuracy\n",
        last.stage,
        first.stage,
        times(c.smaller),
        times(c.faster),
        c.accuracy_change.0
    );
}

fn resnet18_figures() -> Result<(), Box<dyn std::error::Error>> {
    println!("ResNet-18 (torchvision's layout, 10 classes) at 3×224×224, random weights, batch 1\n");
    let dev = Cpu::seed_from_u64(1);
    let model = dev.build_module::<ResNet18, f32>();
    // 30% of each group's and block interior's channels, ranked by L1 norm (a group by the sum
    // over the layers adding into it), then every BatchNorm folded.
    let plan = PrunePlan::from_criterion(&model, Sparsity::from_percent(30.0)?, Ranking::Local, Criteria::new(Criterion::LargeFinal))?;
    let small = SmallResNet18::from_source(&model, &plan)?;

    let image: Vec<f32> = (0..3 * 224 * 224).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let calibration: Vec<f32> = image.iter().chain(image.iter().rev()).copied().collect();
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> = dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let options = LatencyOptions::default().runs(20);
    println!("{:<30} {:>12} {:>10} {:>12}", "", "parameters", "size", "latency p50");
    let forward = cpu_latency(|x| model.forward(x.clone()), &x, &options)?;
    println!("{:<30} {:>12} {:>10} {:>12}", "ResNet-18, derived forward", ResNet18::num_params(), model_size::<f32, Cpu, _>(&model)?.to_string(), forward.p50.to_string());
    let small_forward = cpu_latency(|x| small.forward(x.clone()), &x, &options)?;
    println!("{:<30} {:>12} {:>10} {:>12}", "pruned 30% + folded, derived", SmallResNet18::num_params(), model_size::<f32, Cpu, _>(&small)?.to_string(), small_forward.p50.to_string());
    plans("ResNet-18", &model, &image, &calibration, &options)?;
    plans("pruned 30% + folded", &small, &image, &calibration, &options)?;
    println!("\n{} threads; the kernels: {}", forward.threads, fasterai::internals::kernels::isa::isa());
    Ok(())
}

/// The fp32 and int8 plans of `model`: parameters, size and batch-1 latency.
fn plans<M>(name: &str, model: &M, image: &[f32], calibration: &[f32], options: &LatencyOptions) -> Result<(), Box<dyn std::error::Error>>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut fp32 = accelerate(model)?;
    let latency = cpu_latency(|x: &[f32]| fp32.run(x).map(|y| y[0]).ok(), image, options)?;
    println!("{:<30} {:>12} {:>10} {:>12}", format!("{name}, fp32 plan"), fp32.parameters(), fp32.size_bytes().to_string(), latency.p50.to_string());
    let mut int8 = quantize_static(model, calibration, 2, QuantizeOptions::default())?;
    let latency = cpu_latency(|x: &[f32]| int8.run(x).map(|y| y[0]).ok(), image, options)?;
    println!("{:<30} {:>12} {:>10} {:>12}", format!("{name}, int8 plan"), int8.parameters(), int8.size_bytes()?.to_string(), latency.p50.to_string());
    Ok(())
}
