//! Batch-1 inference latency of DESIGN.md's SmallVgg (1×28×28), four ways in one run:
//! the dfdx eval forward of the derived model, the fp32 `accelerate` plan, and the int8 plan
//! (`quantize_static`, calibrated on 32 random images), plus the fp32 plan with dynamically quantized
//! linear layers (`quantize_dynamic`). Random weights and BatchNorm statistics:
//! latency does not depend on the values.
//!
//! `cargo bench --bench inference` (`-- --warm-up-time 1 --measurement-time 3` for a quick run).
//! Compare them as ratios measured in the same run: the machine is shared.

use std::time::Duration;

use criterion::Criterion;
use fasterai::deploy::{accelerate, quantize_dynamic, quantize_static, QuantizeOptions};
use fasterai::model::{read_tensors, write_tensors};
use fasterai::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

#[path = "support/mod.rs"]
mod support;
use support::keep_freed_memory;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 28, 28])]
struct SmallVgg {
    conv1: Conv2D<1, 32, 3, 1, 1>,  bn1: BatchNorm2D<32>, relu1: ReLU,
    conv2: Conv2D<32, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU, pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<32, 64, 3, 1, 1>, bn3: BatchNorm2D<64>, relu3: ReLU,
    conv4: Conv2D<64, 64, 3, 1, 1>, bn4: BatchNorm2D<64>, relu4: ReLU, pool2: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<3136, 256>, relu5: ReLU,
    fc2: Linear<256, 10>,
}

/// A SmallVgg whose BatchNorms have random statistics (variances kept positive).
fn model(dev: &Cpu) -> SmallVgg {
    let mut model = dev.build_module::<SmallVgg, f32>();
    let mut rng = SmallRng::seed_from_u64(1);
    let updates: Vec<(String, Vec<f32>)> = read_tensors(&model)
        .into_iter()
        .filter(|t| t.name.starts_with("bn"))
        .map(|t| {
            let var = t.name.ends_with("running_var");
            let values = (0..t.numel()).map(|_| if var { rng.gen_range(0.5..2.0) } else { rng.gen_range(-0.5..0.5) }).collect();
            (t.name, values)
        })
        .collect();
    let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    write_tensors(&mut model, &borrowed).expect("SmallVgg's BatchNorm tensors");
    model
}

fn images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n * 784).map(|_| rng.gen_range(0.0..1.0)).collect()
}

fn inference(c: &mut Criterion) {
    let dev = Cpu::default();
    let model = model(&dev);
    let image = images(1, 2);
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
    let mut fp32 = accelerate(&model).expect("SmallVgg runs on the fp32 plan");
    let mut dynamic = quantize_dynamic(&model).expect("SmallVgg's linear layers quantize");
    let mut int8 = quantize_static(&model, &images(32, 3), 32, QuantizeOptions::default()).expect("SmallVgg quantizes");

    let mut group = c.benchmark_group(format!("smallvgg_inference/b1/{}threads", rayon::current_num_threads()));
    group.bench_function("dfdx_forward", |b| b.iter(|| model.forward(x.clone())));
    group.bench_function("fp32_accelerated", |b| b.iter(|| fp32.run(&image).map(|y| y[0])));
    group.bench_function("fp32_conv_int8_dynamic_linear", |b| b.iter(|| dynamic.run(&image).map(|y| y[0])));
    group.bench_function("int8_accelerated", |b| b.iter(|| int8.run(&image).map(|y| y[0])));
    group.finish();
}

fn main() {
    keep_freed_memory();
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    inference(&mut c);
    c.final_summary();
}
