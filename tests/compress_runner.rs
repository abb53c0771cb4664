//! `compress!`'s generated `compress` method runs a whole block on digits: distill, sparsify,
//! prune (the zero filters the sparsify stage left), fold, factorize, quantize — one report row
//! per stage, every settings mistake caught before training.

#[macro_use]
mod support;

use fasterai::data::{digits, DataLoaders};
use fasterai::prelude::*;
use support::models::SmallDigitsNet;

compress! {
    /// The whole story on a digits CNN, one epoch per training stage.
    pub Deployed = SmallDigitsNet {
        distill(teacher: SmallDigitsNet, loss = SoftTarget(temperature = 3.0, alpha = 0.5), epochs = 1, lr = 1e-2),
        sparsify(50%, granularity = filter, context = local, criteria = large_final, schedule = cos, epochs = 1, lr = 1e-3),
        prune(conv1 = 4, conv2 = 8),
        fold(),
        factorize(fc1 = 8, epochs = 1, lr = 1e-3),
        quantize(epochs = 1, lr = 1e-4),
    }
}

// A misspelt criterion (`criteria = large_finale`) no longer reaches the run time: `compress!`
// refuses it at compile time (tests/ui/compress/unknown_criterion.rs).

type Input = (usize, Const<1>, Const<8>, Const<8>);

fn trained(data: &std::sync::Arc<DataLoaders>, seed: u64, epochs: usize) -> SmallDigitsNet {
    let model = Cpu::seed_from_u64(seed).build_module::<SmallDigitsNet, f32>();
    let mut learn: Learner<SmallDigitsNet, Input, 10> = Learner::new(model, data.clone()).with_output(Output::Quiet);
    learn.fit_one_cycle(epochs, 1e-2).unwrap();
    learn.into_model()
}

#[test]
fn the_block_runs_every_stage_and_reports_each() {
    let (train, valid) = digits(0.2, 0).unwrap();
    let data = std::sync::Arc::new(DataLoaders::new(train, valid.clone(), 64, 0));
    let teacher = trained(&data, 1, 3);
    let student = trained(&data, 2, 1);

    let done = Deployed::compress(student, &teacher, data.clone(), Output::Quiet).unwrap();
    println!("{}", done.report);
    let stages: Vec<&str> = done.report.rows().iter().map(|r| r.stage.as_str()).collect();
    assert_eq!(stages, ["source", "distill", "sparsify", "prune", "fold", "factorize", "quantize (float after QAT)", "int8"]);

    let row = |stage: &str| done.report.row(stage).unwrap().clone();
    // Pruning the filters the sparsify stage zeroed (no fine-tuning here) changes no prediction.
    assert!(row("prune").params < row("sparsify").params);
    assert!((row("prune").accuracy.as_fraction() - row("sparsify").accuracy.as_fraction()).abs() <= 1.0 / valid.len() as f64);
    assert!((row("fold").accuracy.as_fraction() - row("prune").accuracy.as_fraction()).abs() <= 1.0 / valid.len() as f64);
    let sparsity = done.sparsity.as_ref().expect("the block sparsifies");
    assert!((sparsity.overall().percent() - 50.0).abs() < 1.0, "{sparsity:?}");

    // The int8 model agrees with the float one on most validation images.
    let mut int8 = done.int8.expect("the block quantizes");
    let n = valid.len();
    let images: Vec<f32> = (0..n).flat_map(|i| valid.image(i).to_vec()).collect();
    let logits = int8.predict(&images, n).unwrap();
    let correct = (0..n)
        .filter(|&i| {
            let row = &logits[i * 10..(i + 1) * 10];
            let best = (0..10).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            best == valid.label(i)
        })
        .count();
    let float = row("quantize (float after QAT)").accuracy.as_fraction();
    assert!(correct as f64 / n as f64 > float - 0.05, "int8 {correct}/{n} vs float {float}");
}
