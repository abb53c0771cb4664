//! The learner end to end on tiny problems: callbacks take effect, epochs visit every sample,
//! runs are reproducible, bad input fails early, and a digits MLP reaches 95%.

use fasterai_runtime::data::{Batch, DataLoaders, Dataset};
use fasterai_runtime::dfdx::prelude::*;
use fasterai_runtime::learn::{
    cross_entropy, Callback, Context, Control, EpochRecord, Forward, Fraction, LearnError, Learner, LrSchedule,
    OneCycle, OptimizerConfig, Output, TapedLoss,
};
use fasterai_runtime::nn::{BatchNorm1D, Linear, ReLU};

type Tiny = Linear<4, 3>;
type TinyInput = (usize, Const<4>);
type TinyLearner = Learner<Tiny, TinyInput, 3>;

/// 24 samples of 4 features in 3 classes; feature 0 holds the sample's id so callbacks can tell
/// samples apart; the class is readable from features 1..4.
fn tiny_data(batch_size: usize) -> DataLoaders {
    let n = 24;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for id in 0..n {
        let class = id % 3;
        let mut x = [id as f32 / n as f32, 0.1, 0.1, 0.1];
        x[1 + class] = 1.0;
        images.extend_from_slice(&x);
        labels.push(class);
    }
    let set = Dataset::new(images, labels, [1, 1, 4], 3).unwrap();
    DataLoaders::new(set.clone(), set, batch_size, 7)
}

fn tiny_learner(seed: u64) -> TinyLearner {
    let model = Tiny::build(&Cpu::seed_from_u64(seed));
    Learner::new(model, tiny_data(5)).with_output(Output::Quiet)
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: None, weight_decay: None })
}

/// The callbacks the table tests plug in, one behaviour each.
enum Probe {
    /// Adds a constant to every loss.
    AddToLoss(f32),
    /// Multiplies every loss by zero.
    ZeroLoss,
    /// Replaces the loss by the same cross-entropy rebuilt from `Forward::logits_on_tape`.
    LossFromTapedLogits,
    /// Adds the cross-entropy rebuilt from `Forward::logits_on_tape` to the loss (twice the gradient).
    AddLossFromTapedLogits,
    /// Sets weight entry 0 to zero after every optimizer step.
    ZeroFirstWeight,
    /// Stops after the given epoch.
    StopAfter(usize),
    /// Returns a NaN loss at (epoch, batch).
    NanAt(usize, usize),
    /// Does nothing.
    Nothing,
}

impl Callback<Tiny, TinyInput, 3> for Probe {
    fn after_loss(
        &mut self,
        ctx: &Context,
        forward: &Forward<'_, TinyInput, 3>,
        loss: TapedLoss,
    ) -> Result<TapedLoss, LearnError> {
        Ok(match *self {
            Probe::AddToLoss(c) => loss + c,
            Probe::ZeroLoss => loss * 0.0,
            Probe::LossFromTapedLogits => loss * 0.0 + cross_entropy(forward.logits_on_tape(), forward.labels())?,
            Probe::AddLossFromTapedLogits => loss + cross_entropy(forward.logits_on_tape(), forward.labels())?,
            Probe::NanAt(e, b) if ctx.epoch == e && ctx.batch == b => loss * f32::NAN,
            _ => loss,
        })
    }

    fn after_step(&mut self, _: &Context, model: &mut Tiny) -> Result<(), LearnError> {
        if let Probe::ZeroFirstWeight = self {
            let mut w = model.weight.as_vec();
            w[0] = 0.0;
            model.weight.copy_from(&w);
        }
        Ok(())
    }

    fn after_epoch(&mut self, ctx: &Context, _: &mut Tiny, _: &EpochRecord) -> Result<Control, LearnError> {
        Ok(match *self {
            Probe::StopAfter(e) if ctx.epoch == e => Control::Stop,
            _ => Control::Continue,
        })
    }
}

/// Runs 3 epochs of SGD at lr 0.1 from seed 1 with `probe`, returning the history and the final weights.
fn run(probe: Probe) -> Result<(fasterai_runtime::learn::History, Vec<f32>), LearnError> {
    run_at(probe, 0.1)
}

fn run_at(mut probe: Probe, lr: f64) -> Result<(fasterai_runtime::learn::History, Vec<f32>), LearnError> {
    let mut learn = tiny_learner(1).with_optimizer(sgd());
    let history = learn.fit_with(3, LrSchedule::Constant { lr }, &mut [&mut probe])?;
    Ok((history, learn.model().weight.as_vec()))
}

/// What a probe must change compared with plain training (3 epochs of SGD at lr 0.1 from seed 1).
enum Expect {
    /// Same weights as plain training; every train loss higher by this much; same valid losses.
    LossShiftedBy(f32),
    /// The weights never move.
    WeightsUnchanged,
    /// The same history and weights as plain training.
    SameAsPlain,
    /// The same weights as plain training at this learning rate.
    WeightsAsPlainAtLr(f64),
    /// Weight entry 0 ends at zero (plain training leaves it non-zero).
    FirstWeightZero,
    /// Training stops after this many epochs.
    Epochs(usize),
}

fn close_all(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn callbacks_take_effect() {
    let (plain, plain_w) = run(Probe::Nothing).unwrap();
    let initial_w = Tiny::build(&Cpu::seed_from_u64(1)).weight.as_vec();
    assert!(!close_all(&plain_w, &initial_w), "plain training moves the weights");
    assert_ne!(plain_w[0], 0.0);

    let table = [
        (
            Probe::AddToLoss(1000.0),
            Expect::LossShiftedBy(1000.0),
            "a constant added to the loss has no gradient but shows in the loss",
        ),
        (Probe::ZeroLoss, Expect::WeightsUnchanged, "a loss scaled to zero has zero gradients (SGD without decay)"),
        (
            Probe::LossFromTapedLogits,
            Expect::SameAsPlain,
            "the loss rebuilt on logits_on_tape back-propagates like the learner's own",
        ),
        (
            Probe::AddLossFromTapedLogits,
            Expect::WeightsAsPlainAtLr(0.2),
            "a term added on the taped logits adds its gradient: 2g at lr 0.1 = g at lr 0.2",
        ),
        (Probe::ZeroFirstWeight, Expect::FirstWeightZero, "weights edited in after_step stay edited"),
        (Probe::StopAfter(1), Expect::Epochs(2), "Control::Stop after epoch 1 ends a 3-epoch fit there"),
    ];
    for (probe, expect, why) in table {
        let (history, weights) = run(probe).unwrap();
        match expect {
            Expect::LossShiftedBy(c) => {
                assert!(close_all(&weights, &plain_w), "{why}: weights");
                for (s, p) in history.epochs.iter().zip(&plain.epochs) {
                    assert!(
                        (s.train_loss - p.train_loss - c).abs() < 1e-2,
                        "{why}: {} vs {}",
                        s.train_loss,
                        p.train_loss
                    );
                    assert_eq!(s.valid_loss, p.valid_loss, "{why}: validation does not run training callbacks");
                }
            }
            Expect::WeightsUnchanged => assert_eq!(weights, initial_w, "{why}"),
            Expect::SameAsPlain => {
                assert_eq!(history.without_time(), plain.without_time(), "{why}");
                assert!(close_all(&weights, &plain_w), "{why}");
            }
            Expect::WeightsAsPlainAtLr(lr) => {
                let (_, reference) = run_at(Probe::Nothing, lr).unwrap();
                assert!(close_all(&weights, &reference), "{why}");
                assert!(!close_all(&weights, &plain_w), "{why}: and differs from lr 0.1");
            }
            Expect::FirstWeightZero => assert_eq!(weights[0], 0.0, "{why}"),
            Expect::Epochs(n) => assert_eq!(history.epochs.len(), n, "{why}"),
        }
    }
}

#[test]
fn non_finite_loss_is_an_error_naming_epoch_and_batch() {
    match run(Probe::NanAt(1, 2)) {
        Err(LearnError::NonFiniteLoss { value, epoch: 1, batch: 2 }) => assert!(value.is_nan()),
        other => panic!("expected NonFiniteLoss at epoch 1 batch 2, got {other:?}"),
    }
    let mut learn = tiny_learner(1);
    match learn.fit(3, 1e30) {
        Err(LearnError::NonFiniteLoss { .. }) => {}
        other => panic!("lr 1e30 must blow up the loss, got {other:?}"),
    }
}

/// Records which samples each epoch's batches hold, and the hyper-parameters at each step.
#[derive(Default)]
struct Recorder {
    seen: Vec<Vec<usize>>,
    steps: Vec<(Fraction, f64, Option<f64>)>,
    events: Vec<String>,
    tag: &'static str,
}

impl Callback<Tiny, TinyInput, 3> for Recorder {
    fn before_fit(&mut self, _: &Context, _: &mut Tiny) -> Result<(), LearnError> {
        self.events.push(format!("{} before_fit", self.tag));
        Ok(())
    }
    fn before_epoch(&mut self, _: &Context, _: &mut Tiny) -> Result<(), LearnError> {
        self.seen.push(Vec::new());
        Ok(())
    }
    fn before_batch(&mut self, ctx: &Context, _: &mut Tiny, batch: &Batch) -> Result<(), LearnError> {
        let ids = batch.images.chunks(4).map(|x| (x[0] * 24.0).round() as usize);
        self.seen.last_mut().unwrap().extend(ids);
        self.steps.push((ctx.pct_train, ctx.lr, ctx.momentum));
        self.events.push(format!("{} before_batch {}", self.tag, ctx.batch));
        Ok(())
    }
    fn after_pred(&mut self, ctx: &Context, _: &Forward<'_, TinyInput, 3>) -> Result<(), LearnError> {
        self.events.push(format!("{} after_pred {}", self.tag, ctx.batch));
        Ok(())
    }
    fn after_loss(
        &mut self,
        ctx: &Context,
        _: &Forward<'_, TinyInput, 3>,
        loss: TapedLoss,
    ) -> Result<TapedLoss, LearnError> {
        self.events.push(format!("{} after_loss {}", self.tag, ctx.batch));
        Ok(loss)
    }
    fn before_step(&mut self, ctx: &Context, _: &Tiny, _: &mut Gradients<f32, Cpu>) -> Result<(), LearnError> {
        self.events.push(format!("{} before_step {}", self.tag, ctx.batch));
        Ok(())
    }
    fn after_step(&mut self, ctx: &Context, _: &mut Tiny) -> Result<(), LearnError> {
        self.events.push(format!("{} after_step {}", self.tag, ctx.batch));
        Ok(())
    }
    fn after_batch(&mut self, ctx: &Context, _: &Tiny) -> Result<(), LearnError> {
        assert!(ctx.last_loss.is_some());
        self.events.push(format!("{} after_batch {}", self.tag, ctx.batch));
        Ok(())
    }
    fn after_epoch(&mut self, ctx: &Context, _: &mut Tiny, _: &EpochRecord) -> Result<Control, LearnError> {
        self.events.push(format!("{} after_epoch {}", self.tag, ctx.epoch));
        Ok(Control::Continue)
    }
    fn after_fit(&mut self, _: &Context, _: &mut Tiny) -> Result<(), LearnError> {
        self.events.push(format!("{} after_fit", self.tag));
        Ok(())
    }
}

#[test]
fn each_epoch_visits_every_sample_once_in_a_new_order() {
    let mut learn = tiny_learner(0);
    let mut rec = Recorder::default();
    learn.fit_with(3, LrSchedule::Constant { lr: 1e-2 }, &mut [&mut rec]).unwrap();
    assert_eq!(rec.seen.len(), 3);
    for epoch in &rec.seen {
        let mut sorted = epoch.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..24).collect::<Vec<_>>(), "every sample exactly once");
    }
    assert_ne!(rec.seen[0], rec.seen[1], "shuffled anew each epoch");
}

#[test]
fn callbacks_run_in_order_at_each_stage() {
    // 6 samples in batches of 5: one epoch of two batches. The learner's own callback runs first.
    let set = Dataset::new(vec![0.5; 6 * 4], vec![0, 1, 2, 0, 1, 2], [1, 1, 4], 3).unwrap();
    let model = Tiny::build(&Cpu::seed_from_u64(0));
    let mut learn: TinyLearner = Learner::new(model, DataLoaders::new(set.clone(), set, 5, 0))
        .with_output(Output::Quiet)
        .with_callback(Probe::Nothing);
    let (mut a, mut b) = (Recorder { tag: "a", ..Default::default() }, Recorder { tag: "b", ..Default::default() });
    learn.fit_with(1, LrSchedule::Constant { lr: 1e-3 }, &mut [&mut a, &mut b]).unwrap();
    let stages = ["before_batch", "after_pred", "after_loss", "before_step", "after_step", "after_batch"];
    let mut expected_a = vec!["a before_fit".to_string()];
    for batch in 0..2 {
        expected_a.extend(stages.iter().map(|s| format!("a {s} {batch}")));
    }
    expected_a.extend(["a after_epoch 0".to_string(), "a after_fit".to_string()]);
    assert_eq!(a.events, expected_a);
    assert_eq!(b.events, expected_a.iter().map(|e| e.replacen('a', "b", 1)).collect::<Vec<_>>());
}

#[test]
fn one_cycle_reaches_the_optimizer_at_every_step() {
    let mut learn = tiny_learner(0);
    let mut rec = Recorder::default();
    let schedule = OneCycle::new(1e-2);
    learn.fit_with(4, LrSchedule::OneCycle(schedule), &mut [&mut rec]).unwrap();
    assert_eq!(rec.steps.len(), 4 * 5, "4 epochs of 5 batches (24 samples, batches of 5)");
    for (i, (pct, lr, momentum)) in rec.steps.iter().enumerate() {
        assert_eq!(*pct, Fraction::of(i, 20), "pct_train counts steps taken");
        assert_eq!(*lr, schedule.lr(*pct));
        assert_eq!(*momentum, Some(schedule.momentum(*pct)));
    }
    assert_eq!(rec.steps[0].1, 1e-2 / 25.0);
    assert_eq!(rec.steps[5].1, 1e-2, "step 5 of 20 is the peak at 25%");
    // A later constant fit goes back to Adam's configured β1.
    let mut rec = Recorder::default();
    learn.fit_with(1, LrSchedule::Constant { lr: 1e-3 }, &mut [&mut rec]).unwrap();
    assert!(rec.steps.iter().all(|s| s.1 == 1e-3 && s.2 == Some(0.9)));
}

#[test]
fn same_seeds_give_identical_histories() {
    let a = tiny_learner(3).fit_one_cycle(3, 1e-2).unwrap();
    let b = tiny_learner(3).fit_one_cycle(3, 1e-2).unwrap();
    let c = tiny_learner(4).fit_one_cycle(3, 1e-2).unwrap();
    assert_eq!(a.without_time(), b.without_time());
    assert_ne!(a.without_time(), c.without_time(), "another model seed gives another run");
}

#[test]
fn bad_setups_fail_before_any_step() {
    let good = tiny_data(5);
    let empty = Dataset::new(vec![], vec![], [1, 1, 4], 3).unwrap();
    let wide = Dataset::new(vec![0.0; 5], vec![0], [1, 1, 5], 3).unwrap();
    let many_classes = Dataset::new(vec![0.0; 4], vec![4], [1, 1, 4], 5).unwrap();
    type Case = (DataLoaders, f64, &'static str, fn(&LearnError) -> bool);
    let cases: Vec<Case> = vec![
        (good.clone(), 0.0, "a zero learning rate", |e| matches!(e, LearnError::InvalidLearningRate { .. })),
        (good.clone(), f64::NAN, "a NaN learning rate", |e| matches!(e, LearnError::InvalidLearningRate { .. })),
        (DataLoaders::new(good.train.clone(), empty.clone(), 5, 0), 1e-3, "no validation sample", |e| {
            matches!(e, LearnError::EmptyDataset { which: "validation" })
        }),
        (DataLoaders::new(empty, good.valid.clone(), 5, 0), 1e-3, "no training sample", |e| {
            matches!(e, LearnError::EmptyDataset { which: "training" })
        }),
        (DataLoaders::new(wide.clone(), wide, 5, 0), 1e-3, "5-value images for a 4-input model", |e| {
            matches!(e, LearnError::InputShape { found: [1, 1, 5], .. })
        }),
        (DataLoaders::new(many_classes.clone(), many_classes, 5, 0), 1e-3, "5 classes for 3 outputs", |e| {
            matches!(e, LearnError::LabelOutOfRange { label: 4, outputs: 3 })
        }),
    ];
    for (data, lr, why, expected) in cases {
        let model = Tiny::build(&Cpu::seed_from_u64(0));
        let before = model.weight.as_vec();
        let mut learn: TinyLearner = Learner::new(model, data).with_output(Output::Quiet);
        let mut rec = Recorder::default();
        let err = learn.fit_with(2, LrSchedule::Constant { lr }, &mut [&mut rec]).unwrap_err();
        assert!(expected(&err), "{why}: got {err}");
        assert!(rec.events.is_empty(), "{why}: no callback ran");
        assert_eq!(learn.model().weight.as_vec(), before, "{why}: weights untouched");
    }
}

#[test]
fn predict_gives_probabilities_that_sum_to_one() {
    let mut learn = tiny_learner(0);
    learn.fit_one_cycle(5, 5e-2).unwrap();
    let data = learn.data().valid.clone();
    let prediction = learn.predict(data.images()).unwrap();
    assert_eq!(prediction.classes.len(), data.len());
    for i in 0..data.len() {
        let p = prediction.probabilities_of(i).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(best, prediction.classes[i]);
    }
    let validation = learn.validate().unwrap();
    let hits = prediction.classes.iter().zip(data.labels()).filter(|(p, l)| p == l).count();
    assert_eq!(validation.accuracy, Fraction::of(hits, data.len()), "predict and validate agree");
    assert!(matches!(learn.predict(&[0.0; 5]), Err(LearnError::RaggedImages { values: 5, per_image: 4 })));
}

/// The 8x8 digits of smartcore, pixels /16, a fixed 80/20 split (every fifth sample validates).
fn digits() -> DataLoaders {
    let raw = smartcore::dataset::digits::load_dataset();
    let images: Vec<f32> = raw.data.iter().map(|v| v / 16.0).collect();
    let labels: Vec<usize> = raw.target.iter().map(|&y| y as usize).collect();
    let (mut train, mut valid) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for (i, (image, &label)) in images.chunks(64).zip(&labels).enumerate() {
        let side = if i % 5 == 4 { &mut valid } else { &mut train };
        side.0.extend_from_slice(image);
        side.1.push(label);
    }
    let train = Dataset::new(train.0, train.1, [1, 8, 8], 10).unwrap();
    let valid = Dataset::new(valid.0, valid.1, [1, 8, 8], 10).unwrap();
    DataLoaders::new(train, valid, 64, 42)
}

#[test]
fn digits_mlp_reaches_95_percent() {
    type Mlp = (Linear<64, 128>, ReLU, Linear<128, 10>);
    let data = digits();
    assert_eq!((data.train.len(), data.valid.len()), (1438, 359));
    let model = Mlp::build(&Cpu::seed_from_u64(0));
    let mut learn: Learner<Mlp, (usize, Const<64>), 10> = Learner::new(model, data).with_output(Output::Quiet);
    let history = learn.fit_one_cycle(8, 3e-2).unwrap();
    let last = history.last().unwrap();
    assert!(last.accuracy.get() >= 0.95, "digits accuracy {}\n{history}", last.accuracy);
    assert!(last.valid_loss < history.epochs[0].valid_loss);
}

/// Flattens `(batch, 1, 8, 8)` digits into `(batch, 64)`, so a rank-4 input feeds an MLP.
#[derive(Debug, Default, Clone)]
struct FlattenDigit;
impl ZeroSizedModule for FlattenDigit {}
impl NonMutableModule for FlattenDigit {}
impl<T: Tape<f32, Cpu>> Module<Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu, T>> for FlattenDigit {
    type Output = Tensor<(usize, Const<64>), f32, Cpu, T>;
    type Error = CpuError;
    fn try_forward(
        &self,
        x: Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu, T>,
    ) -> Result<Self::Output, CpuError> {
        let n = x.shape().0;
        x.try_reshape_like(&(n, Const::<64>))
    }
}

#[test]
fn rank4_images_and_batchnorm_train_and_evaluate_in_their_modes() {
    type Net = (FlattenDigit, Linear<64, 32>, BatchNorm1D<32>, ReLU, Linear<32, 10>);
    let model = Net::build(&Cpu::seed_from_u64(0));
    let mut learn: Learner<Net, (usize, Const<1>, Const<8>, Const<8>), 10> =
        Learner::new(model, digits()).with_output(Output::Quiet);
    let untrained_mean = learn.model().2.running_mean.as_vec();
    let history = learn.fit_one_cycle(3, 1e-2).unwrap();
    assert!(history.last().unwrap().accuracy.get() >= 0.9, "{history}");
    let trained_mean = learn.model().2.running_mean.as_vec();
    assert_ne!(trained_mean, untrained_mean, "training forwards update BatchNorm's running statistics");
    let first = learn.validate().unwrap();
    assert_eq!(learn.model().2.running_mean.as_vec(), trained_mean, "validation runs in evaluation mode");
    assert_eq!(learn.validate().unwrap(), first, "evaluation is deterministic");
    assert_eq!(first.loss, history.last().unwrap().valid_loss, "the table's valid_loss is validate()'s");
}

/// Share of misclassified samples, as an extra metric column.
#[derive(Default)]
struct ErrorRate(fasterai_runtime::learn::AccuracyMetric);

impl fasterai_runtime::learn::Metric for ErrorRate {
    fn name(&self) -> &str {
        "error_rate"
    }
    fn reset(&mut self) {
        self.0 = Default::default();
    }
    fn accumulate(&mut self, logits: &[f32], labels: &[usize]) {
        self.0.accumulate(logits, labels);
    }
    fn value(&self) -> f64 {
        1.0 - self.0.fraction().get()
    }
}

#[test]
fn extra_metrics_reach_the_history_and_the_table() {
    let mut learn = tiny_learner(0).with_metric(ErrorRate::default());
    let history = learn.fit(2, 1e-2).unwrap();
    for record in &history.epochs {
        assert_eq!(record.metrics.len(), 1);
        assert_eq!(record.metrics[0].name, "error_rate");
        assert!((record.metrics[0].value - (1.0 - record.accuracy.get())).abs() < 1e-12);
    }
    let header = history.to_string().lines().next().unwrap().split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(header, ["epoch", "train_loss", "valid_loss", "accuracy", "error_rate", "time"]);
}
