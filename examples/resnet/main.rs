//! Residual networks, compressed: the Python walkthrough's ResNet story in Rust.
//!
//! ```sh
//! cargo run --release --example resnet
//! ```
//!
//! 1. A small ResNet (a 3×3 stem, two stages of two basic blocks) trained on the embedded 8×8
//!    digits, then sparsified to 50% of its conv weights while it fine-tunes, frozen into the fp32
//!    plan (every BatchNorm folded, shortcut ones included) and into the int8 plan (each block
//!    ending in an integer add): parameters, size, latency and accuracy after each stage.
//! 2. torchvision's ResNet-18 layout (10 classes) at 3×224×224 with random weights: parameters, size
//!    and batch-1 latency of the derived forward and of both plans (speed does not depend on the
//!    weights; accuracy would need ImageNet).
//!
//! Pruning and `compress!` do not rewrite residual models yet: their channel groups
//! ([`Compressible::CHANNEL_GROUPS`]) are listed at the end, the widths a pruning would take.

use fasterai::compress::sparsify::{Context as Ranking, ConvGranularity, Criteria, Criterion, Granularity};
use fasterai::data::DataLoaders;
use fasterai::deploy::{accelerate, quantize_static, QuantizeOptions};
use fasterai::learn::LrSchedule;
use fasterai::measure::{cpu_latency, measure_plan, measure_stage, model_size, LatencyOptions, Report};
use fasterai::prelude::*;

#[path = "../../tests/support/resnet.rs"]
#[allow(dead_code)]
mod resnet;
use resnet::{DigitsResNet, ResNet18};

type Digits = (usize, Const<1>, Const<8>, Const<8>);

/// Images the int8 plans calibrate their activation ranges on.
const CALIBRATION_IMAGES: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    digits_story()?;
    resnet18_figures()?;
    Ok(())
}

fn digits_story() -> Result<(), Box<dyn std::error::Error>> {
    println!("DigitsResNet on the 8×8 digits: stem, 2 stages × 2 basic blocks, {} parameters\n", DigitsResNet::num_params());
    let (train, valid) = digits(0.2, 0)?;
    let data = DataLoaders::new(train.clone(), valid.clone(), 32, 0);
    let model = Cpu::seed_from_u64(0).build_module::<DigitsResNet, f32>();
    let mut learn: Learner<DigitsResNet, Digits, 10> = Learner::new(model, data.clone()).with_output(Output::Lines);
    learn.fit_one_cycle(8, 1e-2)?;
    let mut report = Report::default();
    report.push(measure_stage("baseline", &mut learn)?);

    // Half of every conv's weights, the smallest by magnitude, zeroed along a cosine schedule while
    // it fine-tunes (the shortcut convs included).
    let sparsifier = Sparsifier::new(
        Sparsity::from_percent(50.0)?,
        Granularity::Conv(ConvGranularity::Weight),
        Ranking::Local,
        Criteria::new(Criterion::LargeFinal),
    );
    let mut sparsify = SparsifyCallback::<DigitsResNet>::new(sparsifier, SparsitySchedule::cos())?.with_output(Output::Quiet);
    learn.fit_with(6, LrSchedule::OneCycle(OneCycle::new(2e-3)), &mut [&mut sparsify])?;
    report.push(measure_stage("sparsified 50%", &mut learn)?.with_notes("conv weights half zero; dense storage"));

    let mut fp32 = accelerate(learn.model())?;
    report.push(measure_plan("fp32 plan (BN folded)", &mut fp32, &valid)?);
    let calibration: Vec<f32> = (0..CALIBRATION_IMAGES).flat_map(|i| train.image(i).to_vec()).collect();
    let mut int8 = quantize_static(learn.model(), &calibration, CALIBRATION_IMAGES, QuantizeOptions::default())?;
    report.push(measure_plan("int8 plan", &mut int8, &valid)?);
    println!("\n{report}");
    Ok(())
}

fn resnet18_figures() -> Result<(), Box<dyn std::error::Error>> {
    println!("ResNet-18 (torchvision's layout, 10 classes) at 3×224×224, random weights, batch 1\n");
    let dev = Cpu::seed_from_u64(1);
    let model = dev.build_module::<ResNet18, f32>();
    let image: Vec<f32> = (0..3 * 224 * 224).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let x: Tensor<(usize, Const<3>, Const<224>, Const<224>), f32, Cpu> = dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let options = LatencyOptions::default().runs(20);
    let forward = cpu_latency(|x| model.forward(x.clone()), &x, &options)?;
    let mut fp32 = accelerate(&model)?;
    let planned = cpu_latency(|x: &[f32]| fp32.run(x).map(|y| y[0]).ok(), image.as_slice(), &options)?;
    let calibration: Vec<f32> = image.iter().chain(image.iter().rev()).copied().collect();
    let mut int8 = quantize_static(&model, &calibration, 2, QuantizeOptions::default())?;
    let quantized = cpu_latency(|x: &[f32]| int8.run(x).map(|y| y[0]).ok(), image.as_slice(), &options)?;
    println!("{:<22} {:>12} {:>10} {:>12}", "", "parameters", "size", "latency p50");
    println!("{:<22} {:>12} {:>10} {:>12}", "derived model", ResNet18::num_params(), model_size::<f32, Cpu, _>(&model)?.to_string(), forward.p50.to_string());
    println!("{:<22} {:>12} {:>10} {:>12}", "fp32 plan", fp32.parameters(), fp32.size_bytes().to_string(), planned.p50.to_string());
    println!("{:<22} {:>12} {:>10} {:>12}", "int8 plan", int8.parameters(), int8.size_bytes()?.to_string(), quantized.p50.to_string());
    println!("\n{} threads; the kernels: {}", forward.threads, fasterai::internals::kernels::isa::isa());

    println!("\nChannel groups (what pruning must keep together):");
    for group in ResNet18::CHANNEL_GROUPS.iter().filter(|g| g.producers.len() > 1) {
        println!("  {} channels: written by {}", group.channels, group.producers.join(", "));
    }
    let free = ResNet18::CHANNEL_GROUPS.iter().filter(|g| g.producers.len() == 1 && g.prunable).count();
    println!("  and {free} block interiors, each free on its own");
    Ok(())
}
