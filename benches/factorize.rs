//! Cost of the structural passes on SmallVgg's largest layer, fc1 = `Linear<3136, 256>`: the
//! truncated SVD (faer's dense SVD at this size) that factorize runs once per layer, next to
//! folding and pruning the same weights, which only copy. Then the two SVD routes side by side
//! on a `1024 × 3136` weight at rank 512 (VGG16's own layers: the `factorize_timing` example).
//!
//! Run: `cargo bench --bench factorize`.

use criterion::{criterion_group, criterion_main, Criterion};
use fasterai_runtime::compress::factorize::{factorize_linear, factorize_using, singular_values, RankRule, SvdMethod};
use fasterai_runtime::compress::prune::select_linear_in;
use fasterai_runtime::dfdx::prelude::*;
use fasterai_runtime::nn::{Linear, UnbiasedLinear};

fn bench(c: &mut Criterion) {
    let dev: Cpu = Default::default();
    let fc1: Linear<3136, 256> = BuildModule::build(&dev);
    let weight = fc1.weight.as_vec();
    let mut group = c.benchmark_group("factorize_fc1_3136x256");
    group.sample_size(10);
    group.bench_function("singular_values_only", |b| b.iter(|| singular_values("fc1", &weight, 256, 3136)));
    group.bench_function("factorize_linear_rank128", |b| {
        b.iter(|| -> (UnbiasedLinear<3136, 128>, Linear<128, 256>) {
            factorize_linear("fc1", &fc1).expect("rank 128 fits")
        })
    });
    let kept: Vec<usize> = (0..32).map(|c| 2 * c).collect();
    group.bench_function("prune_inputs_half_of_64_channels_of_49", |b| {
        b.iter(|| -> Tensor<Rank2<256, 1568>, f32, Cpu> {
            select_linear_in("fc1", &fc1.weight, 49, &kept).expect("valid")
        })
    });
    group.finish();

    let wide: Linear<3136, 1024> = BuildModule::build(&dev);
    let weight = wide.weight.as_vec();
    let mut group = c.benchmark_group("factorize_1024x3136_rank512");
    group.sample_size(10);
    for (name, method) in [("exact_svd", SvdMethod::Exact), ("gram_route", SvdMethod::Gram)] {
        group.bench_function(name, |b| {
            b.iter(|| factorize_using("fc", &weight, 1024, 3136, RankRule::Fixed(512), 512, method).expect("fits"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
