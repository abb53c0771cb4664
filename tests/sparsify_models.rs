//! Sparsification of a derived model: the one-shot `Sparsifier`, the training-time
//! `SparsifyCallback` with schedules and lottery tickets, and the prune plan read back from the
//! sparsified model, whose pruned type computes the same outputs.

#[macro_use]
mod support;

use fasterai::compress::prune::PrunePlan;
use fasterai::compress::sparsify::{
    Context as Ranking, ConvGranularity, Criteria, Criterion, GlobalOptions, Granularity, LayerChoice, LotteryTicket,
    NmPattern, SparsitySchedule, Sparsifier, SparsifyCallback,
};
use fasterai::compress::CompressError;
use fasterai::data::{Batch, DataLoaders};
use fasterai::dfdx::shapes::Const;
use fasterai::dfdx::tensor::SampleTensor;
use fasterai::learn::{Callback, Context, Fraction, LrSchedule};
use fasterai::model::read_tensor;
use fasterai::prelude::*;
use support::models::DigitsNet;

compress! {
    /// Half the filters of each convolution.
    pub Pruned = DigitsNet { prune(conv1 = 8, conv2 = 16) }
}

type Input = (usize, Const<1>, Const<8>, Const<8>);

fn pct(p: f64) -> Sparsity {
    Sparsity::from_percent(p).unwrap()
}

const FILTER: Granularity = Granularity::Conv(ConvGranularity::Filter);
const WEIGHT: Granularity = Granularity::Conv(ConvGranularity::Weight);

fn large_final() -> Criteria {
    Criteria::new(Criterion::LargeFinal)
}

/// A model whose BatchNorms have non-trivial γ, β and statistics, so silencing shows.
fn model(seed: u64) -> DigitsNet {
    let dev = Cpu::seed_from_u64(seed);
    let mut m = dev.build_module::<DigitsNet, f32>();
    m.bn1.weight = dev.sample_normal();
    m.bn1.bias = dev.sample_normal();
    m.bn2.bias = dev.sample_normal();
    m.bn2.running_mean = dev.sample_normal() * 0.1;
    m
}

fn data(train: usize) -> DataLoaders {
    let (train_set, valid_set) = fasterai::data::digits(0.2, 0).unwrap();
    DataLoaders::new(train_set.subset(train, 1).unwrap(), valid_set.subset(32, 2).unwrap(), 16, 0)
}

fn learner(model: DigitsNet, train: usize) -> Learner<DigitsNet, Input, 10> {
    Learner::new(model, data(train)).with_output(Output::Quiet)
}

fn values(model: &DigitsNet, name: &str) -> Vec<f32> {
    read_tensor(model, name).unwrap().data
}

fn zeros(v: &[f32]) -> usize {
    v.iter().filter(|&&x| x == 0.0).count()
}

#[test]
fn masks_stay_applied_after_every_optimizer_step() {
    let sparsifier =
        Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, large_final()).layers(LayerChoice::ConvolutionsAndLinear);
    // One-shot over the whole run: the full target from the first batch on.
    let schedule = SparsitySchedule::one_shot().with_window(0.0, 1.0).unwrap();
    let mut cb = SparsifyCallback::<DigitsNet>::new(sparsifier, schedule).unwrap().with_output(Output::Quiet);
    let start = model(1);
    let mut learn = learner(start.clone(), 64);
    learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap();
    let trained = learn.model();

    let masks = cb.sparsifier().masks();
    assert_eq!(masks.iter().map(|m| m.name).collect::<Vec<_>>(), ["conv1", "conv2", "fc1"]);
    for mask in masks {
        let w = values(trained, &format!("{}.weight", mask.name));
        let before = values(&start, &format!("{}.weight", mask.name));
        assert!(w.iter().zip(&before).any(|(a, b)| a != b), "{} trained", mask.name);
        for (i, (&w, &m)) in w.iter().zip(&mask.weight).enumerate() {
            assert!(m == 1.0 || w == 0.0, "{}[{i}] = {w} under a zero mask after 8 Adam steps", mask.name);
        }
        assert_eq!(zeros(&mask.weight), mask.weight.len() / 2, "{}: exactly half dropped", mask.name);
    }
    // One report per epoch, and the last one is the model's.
    assert_eq!(cb.history().len(), 2);
    for layer in &cb.report().layers {
        assert!((layer.sparsity().percent() - 50.0).abs() < 0.5, "{layer}");
        assert_eq!(layer.to_string(), format!("Sparsity in {}: {}", layer.name, layer.sparsity()));
    }
}

#[test]
fn filter_granularity_silences_bias_and_batchnorm() {
    let mut net = model(2);
    let mut sparsifier =
        Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final()).layers(LayerChoice::ConvolutionsAndLinear);
    let report = sparsifier.prune_model(&mut net).unwrap();
    assert_eq!(report.layers.len(), 3);
    for (layer, width, bn) in [("conv1", 16, Some("bn1")), ("conv2", 32, Some("bn2")), ("fc1", 64, None)] {
        let w = values(&net, &format!("{layer}.weight"));
        let bias = values(&net, &format!("{layer}.bias"));
        let per = w.len() / width;
        let dropped: Vec<usize> = (0..width).filter(|&o| w[o * per..(o + 1) * per].iter().all(|&x| x == 0.0)).collect();
        assert_eq!(dropped.len(), width / 2, "{layer}");
        for &o in &dropped {
            assert_eq!(bias[o], 0.0, "{layer} bias {o}");
            if let Some(bn) = bn {
                assert_eq!(values(&net, &format!("{bn}.weight"))[o], 0.0, "{bn} gamma {o}");
                assert_eq!(values(&net, &format!("{bn}.bias"))[o], 0.0, "{bn} beta {o}");
            }
        }
        let kept_bias_nonzero = (0..width).filter(|o| !dropped.contains(o)).filter(|&o| bias[o] != 0.0).count();
        assert!(kept_bias_nonzero > 0, "{layer}: kept channels keep their bias");
    }
    // The masks can be applied again to another copy.
    let mut other = model(2);
    sparsifier.apply_masks(&mut other).unwrap();
    assert_eq!(values(&other, "conv2.weight"), values(&net, "conv2.weight"));
    assert_eq!(values(&other, "bn1.bias"), values(&net, "bn1.bias"));
}

#[test]
fn local_ranks_within_each_layer_global_across_layers() {
    let start = model(3);
    let magnitudes = |name: &str| -> Vec<f32> { values(&start, name).iter().map(|w| w.abs()).collect() };
    let layers = ["conv1.weight", "conv2.weight"];

    let mut local = start.clone();
    Sparsifier::new(pct(40.0), WEIGHT, Ranking::Local, large_final()).prune_model(&mut local).unwrap();
    for name in layers {
        let (before, after) = (magnitudes(name), values(&local, name));
        assert_eq!(zeros(&after), (0.4 * after.len() as f64).floor() as usize, "{name}");
        let max_dropped = before.iter().zip(&after).filter(|(_, a)| **a == 0.0).map(|(b, _)| *b).fold(0.0, f32::max);
        let min_kept = before.iter().zip(&after).filter(|(_, a)| **a != 0.0).map(|(b, _)| *b).fold(f32::MAX, f32::min);
        assert!(max_dropped <= min_kept, "{name}: local threshold {max_dropped} vs {min_kept}");
    }

    let mut global = start.clone();
    let report = Sparsifier::new(pct(40.0), WEIGHT, Ranking::Global(GlobalOptions::default()), large_final())
        .prune_model(&mut global)
        .unwrap();
    let before: Vec<f32> = layers.iter().flat_map(|n| magnitudes(n)).collect();
    let after: Vec<f32> = layers.iter().flat_map(|n| values(&global, n)).collect();
    assert_eq!(zeros(&after), (0.4 * after.len() as f64).floor() as usize);
    let max_dropped = before.iter().zip(&after).filter(|(_, a)| **a == 0.0).map(|(b, _)| *b).fold(0.0, f32::max);
    let min_kept = before.iter().zip(&after).filter(|(_, a)| **a != 0.0).map(|(b, _)| *b).fold(f32::MAX, f32::min);
    assert!(max_dropped <= min_kept, "one threshold over both layers");
    // conv1 (fan-in 9) has larger weights than conv2 (fan-in 144): a shared threshold spares it.
    assert!(report.layers[0].sparsity() < report.layers[1].sparsity(), "{report}");
}

fn ctx_at(iteration: usize, n_iterations: usize) -> Context {
    Context {
        epoch: 0,
        n_epochs: 1,
        batch: iteration,
        n_batches: n_iterations,
        iteration,
        n_iterations,
        pct_train: Fraction::of(iteration, n_iterations),
        lr: 1e-3,
        momentum: None,
        last_loss: None,
    }
}

/// A quiet `SparsifyCallback` of `sparsifier` on `schedule`, past `before_fit` (iteration 0 of
/// `n_iterations`) on `model(seed)`, and a blank batch for `before_batch`.
fn started(
    sparsifier: Sparsifier,
    schedule: SparsitySchedule,
    seed: u64,
    n_iterations: usize,
) -> (SparsifyCallback<DigitsNet>, DigitsNet, Batch) {
    let mut cb = SparsifyCallback::<DigitsNet>::new(sparsifier, schedule).unwrap().with_output(Output::Quiet);
    let mut net = model(seed);
    let batch = Batch { images: vec![0.0; 64], labels: vec![0], shape: [1, 8, 8] };
    Callback::<DigitsNet, Input, 10>::before_fit(&mut cb, &ctx_at(0, n_iterations), &mut net).unwrap();
    (cb, net, batch)
}

#[test]
fn scheduled_sparsity_follows_the_schedule() {
    let sparsifier = Sparsifier::new(pct(60.0), FILTER, Ranking::Local, large_final());
    let (mut cb, mut net, batch) = started(sparsifier, SparsitySchedule::cos(), 4, 100);
    let hooks: &mut dyn Callback<DigitsNet, Input, 10> = &mut cb;
    for iteration in [0, 10, 25, 50, 75, 99] {
        hooks.before_batch(&ctx_at(iteration, 100), &mut net, &batch).unwrap();
        let p = iteration as f64 / 100.0;
        let progress = (1.0 + (std::f64::consts::PI * (1.0 - p)).cos()) / 2.0; // fastai's sched_cos
        for (layer, width) in [("conv1.weight", 16), ("conv2.weight", 32)] {
            let w = values(&net, layer);
            let dropped = zeros(&w) / (w.len() / width);
            let want = (0.6 * progress * width as f64 + 1e-9).floor() as usize;
            assert_eq!(dropped, want, "{layer} at pct_train {p}");
        }
    }
    let scheduled = cb.scheduled(pct(60.0)).percent();
    let want = 60.0 * (1.0 + (std::f64::consts::PI * 0.01).cos()) / 2.0;
    assert!((scheduled - want).abs() < 1e-9, "{scheduled} vs {want}");
}

#[test]
fn a_lottery_ticket_rewinds_survivors_to_the_snapshot() {
    let sparsifier = Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final());
    let ticket = LotteryTicket::new(0).reset_end(true);
    let mut cb = SparsifyCallback::<DigitsNet>::new(sparsifier, SparsitySchedule::one_shot())
        .unwrap()
        .lottery_ticket(ticket)
        .with_output(Output::Quiet);
    let start = model(5);
    let mut learn = learner(start.clone(), 64);
    learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap();
    let end = learn.model();
    for mask in cb.sparsifier().masks() {
        let outputs = mask.outputs.as_ref().unwrap();
        assert_eq!(zeros(outputs), outputs.len() / 2);
        let w0 = values(&start, &format!("{}.weight", mask.name));
        let want: Vec<f32> = w0.iter().zip(&mask.weight).map(|(w, m)| w * m).collect();
        assert_eq!(values(end, &format!("{}.weight", mask.name)), want, "{}: snapshot under the mask", mask.name);
        let b0 = values(&start, &format!("{}.bias", mask.name));
        let want: Vec<f32> = b0.iter().zip(outputs).map(|(b, m)| b * m).collect();
        assert_eq!(values(end, &format!("{}.bias", mask.name)), want);
    }
    // Other layers trained normally.
    assert_ne!(values(end, "fc1.weight"), values(&start, "fc1.weight"));
}

#[test]
fn init_and_gradient_criteria_get_what_they_need() {
    let schedule = || SparsitySchedule::iterative(2).unwrap().with_window(0.0, 1.0).unwrap();
    for criterion in [Criterion::Movement, Criterion::UpdatingMovement, Criterion::Taylor, Criterion::LargeInit] {
        let sparsifier = Sparsifier::new(pct(50.0), FILTER, Ranking::Local, Criteria::new(criterion));
        let mut cb = SparsifyCallback::<DigitsNet>::new(sparsifier, schedule()).unwrap().with_output(Output::Quiet);
        let mut learn = learner(model(6), 64);
        learn.fit_with(1, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap();
        // 4 steps: 25% at iteration 1 (after a gradient exists), 50% at iteration 3.
        for layer in &cb.report().layers {
            assert_eq!(layer.sparsity().percent(), 50.0, "{}: {layer}", criterion.name());
        }
    }
}

#[test]
fn filter_sparsified_then_pruned_computes_the_same_outputs() {
    // 50% of the filters, local, large_final, cos: the last step reaches the full target.
    let sparsifier = Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final());
    let mut cb = SparsifyCallback::<DigitsNet>::new(sparsifier, SparsitySchedule::cos()).unwrap().with_output(Output::Quiet);
    let mut learn = learner(model(7), 128);
    let history = learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut cb]).unwrap();
    let last = history.last().unwrap().accuracy;
    assert_eq!(learn.validate().unwrap().accuracy, last, "the last epoch was validated at the full target");
    let trained = learn.into_model();
    let first: Vec<f64> = cb.history()[0].layers.iter().map(|l| l.sparsity().percent()).collect();
    assert!(first.iter().all(|&s| s > 0.0 && s < 50.0), "half-way up the cosine after epoch 1: {first:?}");
    for layer in &cb.report().layers {
        assert_eq!(layer.sparsity().percent(), 50.0, "{layer}");
    }

    let plan = PrunePlan::from_model(&trained).unwrap();
    let widths: Vec<(&str, usize, usize)> =
        plan.layers().iter().map(|l| (l.name.as_str(), l.width, l.new_width())).collect();
    assert_eq!(widths, [("conv1", 16, 8), ("conv2", 32, 16), ("fc1", 64, 64)]);
    let pruned = Pruned::from_source(&trained, &plan).unwrap();

    let dev = Cpu::default();
    let x: Tensor<Input, f32, Cpu> = dev.sample_normal_like(&(8, Const, Const, Const));
    let before = trained.forward(x.clone()).as_vec();
    let after = pruned.forward(x).as_vec();
    support::assert_same_outputs(&before, &after);
}

#[test]
fn plans_from_a_criterion_local_and_global() {
    let net = model(8);
    let local = PrunePlan::from_criterion(&net, pct(50.0), Ranking::Local, large_final()).unwrap();
    let widths = |p: &PrunePlan| p.layers().iter().map(|l| l.new_width()).collect::<Vec<_>>();
    assert_eq!(widths(&local), [8, 16, 32]);
    let global =
        PrunePlan::from_criterion(&net, pct(50.0), Ranking::Global(GlobalOptions::balanced()), large_final()).unwrap();
    let w = widths(&global);
    assert!(w.iter().zip([16, 32, 64]).all(|(&k, n)| k >= n / 4 && k <= n), "floor of a quarter: {w:?}");
    // A criterion needing what a bare model lacks is an error naming it.
    let error = PrunePlan::from_criterion(&net, pct(50.0), Ranking::Local, Criteria::new(Criterion::Movement));
    assert!(error.unwrap_err().to_string().contains("initial weights"));
}

#[test]
fn nm_keeps_two_of_every_four_input_channels() {
    let mut net = model(9);
    let mut sparsifier =
        Sparsifier::new(pct(0.0), WEIGHT, Ranking::Local, large_final()).nm(NmPattern::TWO_FOUR).layers(LayerChoice::named(["conv2"]));
    sparsifier.prune_model(&mut net).unwrap();
    let w = values(&net, "conv2.weight"); // (32, 16, 3, 3)
    for o in 0..32 {
        for k in 0..9 {
            for start in (0..16).step_by(4) {
                let kept = (start..start + 4).filter(|i| w[(o * 16 + i) * 9 + k] != 0.0).count();
                assert_eq!(kept, 2, "filter {o}, position {k}, channels {start}..");
            }
        }
    }
}

#[test]
fn bad_settings_are_errors_before_training() {
    // A sparsity outside 0–100% cannot be built at all.
    assert!(Sparsity::from_percent(120.0).is_err() && Sparsity::from_fraction(-0.1).is_err());
    let base = || Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final());

    let unknown = SparsifyCallback::<DigitsNet>::new(base().per_layer([("conv3", pct(30.0))]), SparsitySchedule::cos());
    let text = unknown.unwrap_err().to_string();
    assert!(text.contains("conv3") && text.contains("conv1, conv2, fc1"), "{text}");

    let classifier = SparsifyCallback::<DigitsNet>::new(base().layers(LayerChoice::named(["fc2"])), SparsitySchedule::cos());
    assert!(classifier.unwrap_err().to_string().contains("classifier"));

    let nm = SparsifyCallback::<DigitsNet>::new(base().nm(NmPattern::TWO_FOUR), SparsitySchedule::cos()).unwrap_err();
    assert_eq!(nm, CompressError::NmIndivisible { layer: "conv1".into(), in_channels: 1, n: 2, m: 4 });

    let global = Sparsifier::new(pct(50.0), FILTER, Ranking::Global(GlobalOptions::default()), large_final())
        .per_layer([("conv1", pct(30.0))]);
    assert_eq!(SparsifyCallback::<DigitsNet>::new(global, SparsitySchedule::cos()).unwrap_err(), CompressError::PerLayerNeedsLocal);

    // one_shot prunes at half of 2 epochs: rewinding at epoch 2 is too late, and nothing trains.
    let mut late = SparsifyCallback::<DigitsNet>::new(base(), SparsitySchedule::one_shot())
        .unwrap()
        .lottery_ticket(LotteryTicket::new(2))
        .with_output(Output::Quiet);
    let start = model(10);
    let mut learn = learner(start.clone(), 32);
    let error = learn.fit_with(2, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut late]).unwrap_err();
    assert!(error.to_string().contains("rewind epoch 2"), "{error}");
    assert_eq!(values(learn.model(), "conv1.weight"), values(&start, "conv1.weight"));
}

/// Output channels whose weights are all zero.
fn dropped_filters(model: &DigitsNet, layer: &str, width: usize) -> usize {
    let w = values(model, layer);
    let per = w.len() / width;
    (0..width).filter(|&o| w[o * per..(o + 1) * per].iter().all(|&x| x == 0.0)).count()
}

#[test]
fn round_to_keeps_a_multiple_of_the_filters() {
    let mut net = model(11);
    Sparsifier::new(pct(70.0), FILTER, Ranking::Local, large_final()).round_to(4).prune_model(&mut net).unwrap();
    // conv1: 70% of 16 drops 11, keeps 5 → 8; conv2: drops 22 of 32, keeps 10 → 12.
    assert_eq!(dropped_filters(&net, "conv1.weight", 16), 8);
    assert_eq!(dropped_filters(&net, "conv2.weight", 32), 20);
    let mut zero = Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final()).round_to(0);
    assert_eq!(zero.prune_model(&mut net).unwrap_err(), CompressError::ZeroRoundTo);
}

#[test]
fn dense_sparse_dense_lets_pruned_filters_grow_back() {
    let sparsifier = Sparsifier::new(pct(50.0), FILTER, Ranking::Local, large_final());
    let (mut cb, mut net, batch) = started(sparsifier, SparsitySchedule::dsd(), 12, 100);
    let hooks: &mut dyn Callback<DigitsNet, Input, 10> = &mut cb;
    hooks.before_batch(&ctx_at(50, 100), &mut net, &batch).unwrap();
    assert_eq!(dropped_filters(&net, "conv2.weight", 32), 16, "the full target at mid-run");
    hooks.before_batch(&ctx_at(90, 100), &mut net, &batch).unwrap();
    // dsd at 0.9: e + (1 − cos(π(1 − 1.8)))(s − e)/2 of the target.
    let progress = 1.0 - (1.0 - (std::f64::consts::PI * -0.8).cos()) / 2.0;
    let want = (0.5 * progress * 32.0 + 1e-9).floor() as usize;
    assert!(want < 16);
    let mask_zeros = |cb: &SparsifyCallback<DigitsNet>| {
        let m = cb.sparsifier().masks().iter().find(|m| m.name == "conv2").unwrap();
        zeros(m.outputs.as_ref().unwrap())
    };
    assert_eq!(mask_zeros(&cb), want, "fewer filters masked");
    // The regrown filters restart from 0: still zero until a step moves them, and no longer masked.
    assert_eq!(dropped_filters(&net, "conv2.weight", 32), 16);
    net.conv2.weight = net.conv2.weight.clone() + 1.0;
    let hooks: &mut dyn Callback<DigitsNet, Input, 10> = &mut cb;
    // Step 89 ends at pct_train 0.9, where the schedule already is: only the masks are applied.
    hooks.after_step(&ctx_at(89, 100), &mut net).unwrap();
    assert_eq!(dropped_filters(&net, "conv2.weight", 32), want);
}

#[test]
fn global_context_on_a_schedule_counts_all_layers_together() {
    let sparsifier = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Global(GlobalOptions::default()), large_final());
    let (mut cb, mut net, batch) = started(sparsifier, SparsitySchedule::lin(), 13, 10);
    let hooks: &mut dyn Callback<DigitsNet, Input, 10> = &mut cb;
    hooks.before_batch(&ctx_at(6, 10), &mut net, &batch).unwrap();
    let total = 16 * 9 + 32 * 16 * 9;
    let dropped = zeros(&values(&net, "conv1.weight")) + zeros(&values(&net, "conv2.weight"));
    assert_eq!(dropped, (0.3 * total as f64 + 1e-9).floor() as usize, "lin at 0.6 of 50%, over both layers");
}

/// The one-shot `Sparsifier` with an `updating_*` criterion: on the first call it compares against
/// the initial weights (`remember_init`), as fasterai does (its `_old_weights` start as
/// `_init_weights`), so it picks what the init-based counterpart picks; later calls compare against
/// the weights at the call before. Without `remember_init` the error says to call it.
#[test]
fn one_shot_updating_criteria_compare_against_the_initial_weights_first() {
    let start = model(11);
    let mut tuned = start.clone();
    // "Fine-tuning": move the conv weights by a deterministic, uneven amount.
    for name in ["conv1.weight", "conv2.weight"] {
        let moved: Vec<f32> =
            values(&start, name).iter().enumerate().map(|(i, w)| w + ((i * 7919) % 13) as f32 * 0.01 - 0.06).collect();
        fasterai::model::write_tensors(&mut tuned, &[(name, &moved)]).unwrap();
    }
    let pairs = [
        (Criterion::UpdatingMovement, Criterion::Movement),
        (Criterion::UpdatingMagnitudeIncrease, Criterion::MagnitudeIncrease),
        (Criterion::UpdatingMovmag, Criterion::Movmag),
    ];
    for (updating, from_init) in pairs {
        let mut masks = Vec::new();
        for criterion in [updating, from_init] {
            let mut sparsifier = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, Criteria::new(criterion));
            sparsifier.remember_init(&start).unwrap();
            let mut m = tuned.clone();
            let report = sparsifier.prune_model(&mut m).unwrap();
            assert!(report.layers.iter().all(|l| l.sparsity().percent() == 50.0), "{}: {report}", criterion.name());
            masks.push(sparsifier.masks().to_vec());
        }
        assert_eq!(masks[0], masks[1], "{} picks what {} picks on its first call", updating.name(), from_init.name());
    }

    // A second call compares against the weights left by the first call, not the initial ones:
    // it picks what `movement` picks with those weights as its initial weights.
    let mut sparsifier = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, Criteria::new(Criterion::UpdatingMovement));
    sparsifier.remember_init(&start).unwrap();
    let mut m = tuned.clone();
    sparsifier.prune_model(&mut m).unwrap();
    // The reference has the same masks (scores of dropped weights stay 0), then takes the
    // weights after the first call as its initial ones.
    let mut reference = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, Criteria::new(Criterion::Movement));
    reference.remember_init(&start).unwrap();
    reference.prune_model(&mut tuned.clone()).unwrap();
    assert_eq!(sparsifier.masks(), reference.masks());
    reference.remember_init(&m).unwrap();
    for name in ["conv1.weight", "conv2.weight"] {
        let moved: Vec<f32> = values(&m, name).iter().enumerate().map(|(i, w)| w + ((i * 31) % 17) as f32 * 0.02).collect();
        fasterai::model::write_tensors(&mut m, &[(name, &moved)]).unwrap();
    }
    let mut again = m.clone();
    sparsifier.prune_model(&mut again).unwrap();
    reference.prune_model(&mut m).unwrap();
    assert_eq!(sparsifier.masks(), reference.masks());

    // Without the initial weights, the error names the call that provides them.
    let mut sparsifier = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, Criteria::new(Criterion::UpdatingMovement));
    let message = sparsifier.prune_model(&mut tuned.clone()).unwrap_err().to_string();
    assert!(
        message.contains("criterion `updating_movement` needs the weights of the previous call")
            && message.contains("call `Sparsifier::remember_init(&model)` first"),
        "{message}"
    );
    let mut sparsifier = Sparsifier::new(pct(50.0), WEIGHT, Ranking::Local, Criteria::new(Criterion::LargeInit));
    let message = sparsifier.prune_model(&mut tuned.clone()).unwrap_err().to_string();
    assert!(message.contains("call `Sparsifier::remember_init(&model)` first"), "{message}");
}
