//! Sparsify half the filters of a digits CNN while it trains, then remove them.
//!
//! `cargo run --release --example sparsify_prune_digits`
//!
//! The `SparsifyCallback` zeroes 50% of each convolution's filters along a cosine schedule (with
//! their bias and BatchNorm entries), `PrunePlan::from_model` reads which filters are zero, and the
//! `compress!`-generated `Pruned::from_source` copies the rest into a narrower type. The pruned
//! model computes the same outputs, so its validation accuracy equals the sparse model's.

use fasterai::compress::sparsify::{Context as Ranking, ConvGranularity, Criteria, Criterion, Granularity};
use fasterai::data::DataLoaders;
use fasterai::learn::LrSchedule;
use fasterai::prelude::*;

/// A digits CNN: convolutions of 16 and 32 filters, one pooling, Linear 512 → 64 → 10 (the
/// tests' `DigitsNet`).
#[path = "../tests/support/models.rs"]
#[allow(dead_code)]
mod models;
use models::DigitsNet as DigitsCnn;

compress! {
    /// Half the filters of each convolution.
    pub Pruned = DigitsCnn { prune(conv1 = 8, conv2 = 16) }
}

type Input = (usize, Const<1>, Const<8>, Const<8>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, valid) = digits(0.2, 0)?;
    let data = DataLoaders::new(train, valid, 32, 0);
    let model = Cpu::seed_from_u64(0).build_module::<DigitsCnn, f32>();

    let sparsifier = Sparsifier::new(
        Sparsity::from_percent(50.0)?,
        Granularity::Conv(ConvGranularity::Filter),
        Ranking::Local,
        Criteria::new(Criterion::LargeFinal),
    );
    let mut sparsify = SparsifyCallback::<DigitsCnn>::new(sparsifier, SparsitySchedule::cos())?.with_output(Output::Lines);
    let mut learn: Learner<DigitsCnn, Input, 10> = Learner::new(model, data.clone()).with_output(Output::Lines);
    learn.fit_with(4, LrSchedule::OneCycle(OneCycle::new(1e-2)), &mut [&mut sparsify])?;
    let sparse_accuracy = learn.validate()?.accuracy;

    let plan = PrunePlan::from_model(learn.model())?;
    println!("\n{plan}");
    let pruned = Pruned::from_source(learn.model(), &plan)?;
    let mut check: Learner<Pruned, Input, 10> = Learner::new(pruned, data).with_output(Output::Quiet);
    let pruned_accuracy = check.validate()?.accuracy;

    println!("parameters: {} sparse → {} pruned", DigitsCnn::num_params(), Pruned::num_params());
    println!("validation accuracy: {sparse_accuracy} sparse, {pruned_accuracy} pruned");
    Ok(())
}
