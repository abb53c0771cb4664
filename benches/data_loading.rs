//! Cost of cutting a 28×28 training set into shuffled batches of 64, the input side of a training
//! step. Compare the per-batch figure with a SmallVgg training step at batch 64 (~100 ms here):
//! loading must stay far below 5% of it.
//!
//! Run: `cargo bench --bench data_loading`. Uses a synthetic set of Fashion-MNIST's size
//! (60,000 × 1×28×28), so it needs no download.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fasterai::data::{DataLoaders, Dataset};

const TRAIN: usize = 60_000;
const BATCH: usize = 64;

fn loaders() -> DataLoaders {
    let images: Vec<f32> = (0..TRAIN * 784).map(|i| (i % 251) as f32 / 251.0).collect();
    let labels: Vec<usize> = (0..TRAIN).map(|i| i % 10).collect();
    let train = Dataset::new(images, labels, [1, 28, 28], 10).expect("consistent synthetic set");
    let valid = train.subset(1_000, 0).expect("1000 <= 60000");
    DataLoaders::new(train, valid, BATCH, 42)
}

fn bench(c: &mut Criterion) {
    let dls = loaders();
    let mut group = c.benchmark_group("data_loading");
    group.sample_size(20);
    // One whole shuffled epoch (938 batches, the last one partial): the per-batch cost including the
    // per-epoch shuffle is this time / 938.
    group.throughput(Throughput::Elements(dls.train_len() as u64));
    let mut epoch = 0;
    group.bench_function("train_epoch_60k_batch64", |b| {
        b.iter_batched(
            || {
                epoch += 1;
                epoch
            },
            |epoch| dls.train_batches(epoch).map(|batch| batch.len()).sum::<usize>(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("first_batch_of_epoch", |b| b.iter(|| dls.train_batches(7).next().map(|b| b.len())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
