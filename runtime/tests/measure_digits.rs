//! The measuring tools on a real dfdx model fed by the digits loader: parameters, size on disk and in
//! memory, MACs, latency and accuracy gathered into a report.

use fasterai_runtime::{
    data::{digits, DataLoaders},
    dfdx::prelude::{BuildModule, Const, Cpu, Module, Tensor, TensorFrom},
    measure::{
        cpu_latency, model_size, model_size_in_memory, num_params, Accuracy, LatencyOptions, Macs, Report,
        ReportRow,
    },
    nn::{Linear, ReLU},
};

type Mlp = (Linear<64, 32>, ReLU, Linear<32, 10>);

/// Fraction of validation images whose arg-max logit is their label.
fn accuracy(model: &Mlp, dls: &DataLoaders, dev: &Cpu) -> Accuracy {
    let (mut correct, mut total) = (0, 0);
    for batch in dls.valid_batches() {
        let n = batch.len();
        let x: Tensor<(usize, Const<64>), f32, Cpu> = dev.tensor((batch.images, (n, Const::<64>)));
        let logits = model.forward(x).as_vec();
        for (row, &label) in logits.chunks_exact(10).zip(&batch.labels) {
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += usize::from(best == label);
        }
        total += n;
    }
    Accuracy::from_counts(correct, total).unwrap()
}

#[test]
fn a_digits_mlp_is_measured_into_a_report() {
    let dev = Cpu::default();
    let (train, valid) = digits(0.2, 42).unwrap();
    let dls = DataLoaders::new(train, valid, 64, 0);
    let model = Mlp::build(&dev);

    let params = num_params(&model);
    assert_eq!(params, 64 * 32 + 32 + 32 * 10 + 10);
    let size = model_size(&model).unwrap();
    assert_eq!(model_size_in_memory(&model).unwrap(), size);
    assert!(size.0 > 4 * params as u64, "data plus header");
    let macs = model.0.macs(&[64]) + model.1.macs(&[32]) + model.2.macs(&[32]);
    assert_eq!(macs, 64 * 32 + 32 * 10);

    let image: Tensor<(Const<64>,), f32, Cpu> = dev.tensor(dls.valid.image(0).to_vec());
    let latency =
        cpu_latency(|x| model.forward(x.clone()), &image, &LatencyOptions::default().runs(50).threads(1))
            .unwrap();
    assert_eq!((latency.runs, latency.threads), (50, 1));

    let acc = accuracy(&model, &dls, &dev);
    let mut report = Report::default();
    report.push(
        ReportRow::new("untrained mlp", params, size, latency.p50, acc).with_notes(format!("{macs} MACs")),
    );
    let table = report.to_string();
    assert!(table.contains("2,410") && table.contains("2368 MACs"), "{table}");
    println!("{table}");
}
