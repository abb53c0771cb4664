//! The training step of DESIGN.md's SmallVgg exactly as a user writes it (`#[derive(Compressible)]`
//! over our Conv2D, BatchNorm2D, ReLU, MaxPool2D, Flatten and dfdx's Linear): forward + backward +
//! Adam at batch 64, in images per second. PyTorch 2 threads does this step at about 524 images/s on
//! DESIGN.md's reference machine.
//!
//! - `cargo bench --bench train_step`: criterion, `smallvgg_train_step/b64/derived`.
//! - `cargo bench --bench train_step -- rates`: 20 steps, images/s per wall second and per CPU-second
//!   (the second is robust to other jobs on the machine), then exits.
//!
//! Unless `BENCH_SYSTEM_MALLOC=1`, glibc is told to keep freed memory (see `support::keep_freed_memory`).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use fasterai::dfdx::nn::ZeroGrads;
use fasterai::dfdx::optim::{Adam, AdamConfig, Optimizer};
use fasterai::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

#[path = "support/mod.rs"]
mod support;
use support::{keep_freed_memory, process_cpu_seconds};

/// DESIGN.md's SmallVgg exactly as a user declares it (the walkthrough's declaration): the derive
/// generates the forward passes.
#[path = "../examples/walkthrough/models.rs"]
#[allow(dead_code)]
mod models;
use models::SmallVgg as DerivedSmallVgg;

/// One training step of the derived model: the path a user's `Learner` takes.
struct DerivedTrainer {
    model: DerivedSmallVgg,
    opt: Adam<DerivedSmallVgg, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
    x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>,
    y: Tensor<(usize, Const<10>), f32, Cpu>,
}

impl DerivedTrainer {
    fn new(batch: usize) -> Self {
        // No `dev.enable_cache()`, as in `Learner`: our layers hand dfdx buffers it never allocated,
        // which its cache keeps on drop and never hands back to us (measured: 1.4 GB resident after
        // 23 steps instead of 115 MB, ten times the page faults, 20% fewer images/s).
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<DerivedSmallVgg, f32>();
        let opt = Adam::new(&model, AdamConfig { lr: 1e-3, ..Default::default() });
        let grads = Some(model.alloc_grads());
        let x = dev.sample_normal_like(&(batch, Const::<1>, Const::<28>, Const::<28>));
        let mut rng = SmallRng::seed_from_u64(2);
        let mut one_hot = vec![0.0f32; batch * 10];
        for row in one_hot.chunks_exact_mut(10) {
            row[rng.gen_range(0..10)] = 1.0;
        }
        let y = dev.tensor_from_vec(one_hot, (batch, Const::<10>));
        Self { model, opt, grads, x, y }
    }

    fn step(&mut self) {
        let grads = self.grads.take().expect("gradients are put back after every step");
        let logits = self.model.try_forward_mut(self.x.clone().traced(grads)).unwrap();
        let loss = cross_entropy_with_logits_loss(logits, self.y.clone());
        let mut grads = loss.backward();
        self.opt.update(&mut self.model, &grads).unwrap();
        self.model.zero_grads(&mut grads);
        self.grads = Some(grads);
    }
}


/// Images per second and per CPU-second of the derived model's training step (robust to other
/// jobs on the machine: CPU time counts only this process's work).
fn derived_step_rates() {
    let mut trainer = DerivedTrainer::new(64);
    for _ in 0..3 {
        trainer.step();
    }
    let steps = 20;
    let (cpu0, wall0) = (process_cpu_seconds(), Instant::now());
    for _ in 0..steps {
        trainer.step();
    }
    let (cpu, wall) = (process_cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    let images = (steps * 64) as f64;
    println!(
        "derived SmallVgg train step b64: {:.0} images/s wall, {:.0} images per CPU-second ({} threads available) => {:.0} images/s if both cores were ours",
        images / wall,
        images / cpu,
        rayon::current_num_threads(),
        images / cpu * rayon::current_num_threads() as f64,
    );
}


fn smallvgg_train_step(c: &mut Criterion) {
    let batch = 64;
    let mut group = c.benchmark_group("smallvgg_train_step/b64");
    group.throughput(Throughput::Elements(batch as u64));
    let mut trainer = DerivedTrainer::new(batch);
    group.bench_function("derived", |bench| bench.iter(|| trainer.step()));
    group.finish();
}

fn main() {
    keep_freed_memory();
    if std::env::args().any(|a| a == "rates") {
        derived_step_rates();
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    smallvgg_train_step(&mut c);
    c.final_summary();
}
