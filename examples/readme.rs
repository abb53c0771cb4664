//! The README's example, kept compiling: `tests/readme.rs` checks that the README shows this file's code.

use fasterai::data::{digits, DataLoaders};
use fasterai::measure::{measure_plan, measure_stage};
use fasterai::prelude::*;

#[derive(Compressible, Clone)]
#[compressible(input = [1, 8, 8])] // one sample: the derive computes every layer's shape from it
pub struct Net {
    conv1: Conv2D<1, 16, 3, 1, 1>,  bn1: BatchNorm2D<16>, relu1: ReLU,
    conv2: Conv2D<16, 32, 3, 1, 1>, bn2: BatchNorm2D<32>, relu2: ReLU, pool: MaxPool2D<2, 2>,
    flatten: Flatten,
    fc1: Linear<512, 64>, relu3: ReLU,
    fc2: Linear<64, 10>,
}

compress! {
    /// BatchNorms folded into the convolutions; fc1 split into 512 → 32 → 64 by a truncated SVD.
    pub Small = Net { fold(), factorize(fc1 = 32) }
}

fn main() -> Result<()> {
    let (train, valid) = digits(0.2, 0)?; // the embedded 8×8 digits
    let model = Cpu::default().build_module::<Net, f32>();
    let data = DataLoaders::new(train.clone(), valid.clone(), 64, 0);
    let mut learn: Learner<Net, (usize, Const<1>, Const<8>, Const<8>), 10> = Learner::new(model, data);
    learn.fit_one_cycle(5, 1e-2)?;

    let mut report = Report::default();
    report.push(measure_stage("trained", &mut learn)?);
    let small = Small::from_source(learn.model())?; // a new type; rustc checks every shape
    let n = 256; // calibration images
    let calibration: Vec<f32> = (0..n).flat_map(|i| train.image(i).to_vec()).collect();
    let mut int8 = quantize_static(&small, &calibration, n, QuantizeOptions::default())?;
    int8.save("small.int8.safetensors")?;
    report.push(measure_plan("int8", &mut int8, &valid)?);
    println!("{report}"); // params, size, p50 latency, accuracy, size ×, speed ×
    Ok(())
}
