//! A `compress!` block's stages as data, and their parsing into typed settings.
//!
//! The macro checks the block's shape at compile time (stage and option names, ratios, layer
//! names) and passes every stage to the run time as a [`StageSpec`]. The values that name run-time
//! things (a criterion, a schedule, a loss) are parsed here, all of them before any training
//! starts, so a typo fails in milliseconds with the list of valid names.
//!
//! ```
//! use fasterai_runtime::runner::{ArgValue, StageArg, StageSpec, Stage};
//! let spec = StageSpec {
//!     name: "sparsify",
//!     args: &[
//!         StageArg { key: None, value: ArgValue::Percent(50.0) },
//!         StageArg { key: Some("criteria"), value: ArgValue::Word("large_final") },
//!         StageArg { key: Some("schedule"), value: ArgValue::Word("cos") },
//!         StageArg { key: Some("epochs"), value: ArgValue::Number(2.0) },
//!     ],
//! };
//! let Stage::Sparsify(s) = spec.parse().unwrap() else { unreachable!() };
//! assert_eq!(s.sparsity.percent(), 50.0);
//! assert_eq!(s.training.epochs, 2);
//! ```

use crate::compress::distill::{DistillLoss, FeaturePairs, PAIRS_FORM};
use crate::compress::sparsify::{ConvGranularity, Criterion, SparsitySchedule};
use crate::compress::CompressError;
use crate::units::{LossWeight, Ratio, Sparsity};

/// A value written in a stage: `50%`, `1e-4`, `"plan.json"`, `cos`, `SoftTarget(temperature = 3.0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArgValue {
    /// `50%`, in percent.
    Percent(f64),
    /// A plain number.
    Number(f64),
    /// A string literal.
    Str(&'static str),
    /// A bare name such as `cos` or `filter`.
    Word(&'static str),
    /// A name with arguments, such as `SoftTarget(temperature = 3.0, alpha = 0.5)`.
    Call(&'static str, &'static [StageArg]),
}

/// One argument of a stage: `key = value`, or a positional value (`key` is `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageArg {
    /// The option or layer name, `None` for the positional ratio.
    pub key: Option<&'static str>,
    /// Its value.
    pub value: ArgValue,
}

/// One stage as written in a `compress!` block (the `teacher: Type` of `distill` is left out: it
/// becomes a parameter of the generated method).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageSpec {
    /// `distill`, `sparsify`, `prune`, `fold`, `factorize` or `quantize`.
    pub name: &'static str,
    /// Its arguments, in the order written.
    pub args: &'static [StageArg],
}

/// How long and how fast a stage trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Training {
    /// Epochs (0: the stage does not train).
    pub epochs: usize,
    /// Learning rate: the peak of the one-cycle schedule for distillation, the constant rate of
    /// the other stages' fine-tuning (fastai's `fit`).
    pub lr: f64,
}

/// `distill(teacher: T, loss = SoftTarget(temperature = 3.0, alpha = 0.5), epochs, lr)`.
///
/// A feature loss (`loss = Attention(p = 2, alpha = 0.5)`, `FitNet`, `Similarity`,
/// `ActivationBoundaries(margin = 2.0)`) compares the student's and the teacher's `#[tap]` feature
/// maps, paired by spatial size ([`FeaturePairs::BySpatialSize`]), or as named by
/// `pairs = "student_tap -> teacher_tap, .."` ([`FeaturePairs::Named`]; grammar in
/// [`crate::compress::distill::parse_pairs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DistillSpec {
    /// The loss between student and teacher logits, or between their tapped feature maps.
    pub loss: DistillLoss,
    /// Which student tap is compared with which teacher tap (feature losses only).
    pub pairs: FeaturePairs,
    /// The weight of the distillation term: loss = (1 − w)·task + w·distill.
    pub weight: LossWeight,
    /// Epochs (default 1) and peak learning rate (default 1e-3).
    pub training: Training,
}

/// `sparsify(50%, granularity = filter, context = local, criteria = large_final, schedule = cos, epochs, lr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparsifySpec {
    /// The target sparsity, reached at the end of the schedule.
    pub sparsity: Sparsity,
    /// What is removed together (default `filter`).
    pub granularity: ConvGranularity,
    /// Whether layers are ranked together (default local).
    pub global: bool,
    /// How weights are scored (default `large_final`).
    pub criterion: Criterion,
    /// How sparsity grows over training (default `cos`).
    pub schedule: SparsitySchedule,
    /// Epochs (default 1) and learning rate (default 1e-4).
    pub training: Training,
}

/// `prune(50%, epochs, lr)`, `prune(conv1 = 16)` or `prune(plan = "...")`: the widths are in the
/// type; the run time only fine-tunes after the surgery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneSpec {
    /// The ratio written, if any (the widths of the type come from it).
    pub ratio: Option<Ratio>,
    /// Fine-tuning after the surgery (default: none).
    pub training: Training,
}

/// A parsed stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Train the student with a teacher.
    Distill(DistillSpec),
    /// Train while zeroing weights on a schedule.
    Sparsify(SparsifySpec),
    /// Remove the channels a plan drops, then fine-tune.
    Prune(PruneSpec),
    /// Merge BatchNorms into the layers before them.
    Fold,
    /// Split linear layers by truncated SVD, then fine-tune.
    Factorize(Training),
    /// Quantization-aware training, then int8 conversion.
    Quantize(Training),
}

fn bad(stage: &'static str, what: impl Into<String>) -> CompressError {
    CompressError::BadStage { stage, reason: what.into() }
}

impl StageSpec {
    fn get(&self, key: &str) -> Option<ArgValue> {
        self.args.iter().find(|a| a.key == Some(key)).map(|a| a.value)
    }

    fn positional(&self) -> Option<ArgValue> {
        self.args.iter().find(|a| a.key.is_none()).map(|a| a.value)
    }

    fn training(&self, default_epochs: usize, default_lr: f64) -> Result<Training, CompressError> {
        let epochs = match self.get("epochs") {
            None => default_epochs,
            Some(ArgValue::Number(n)) if n >= 0.0 && n.fract() == 0.0 => n as usize,
            Some(other) => return Err(bad(self.name, format!("`epochs` must be a whole number, not {other:?}"))),
        };
        let lr = match self.get("lr") {
            None => default_lr,
            Some(ArgValue::Number(lr)) if lr > 0.0 && lr.is_finite() => lr,
            Some(other) => return Err(bad(self.name, format!("`lr` must be a positive number, not {other:?}"))),
        };
        Ok(Training { epochs, lr })
    }

    fn word(&self, key: &str, default: &'static str) -> Result<&'static str, CompressError> {
        match self.get(key) {
            None => Ok(default),
            Some(ArgValue::Word(w)) => Ok(w),
            Some(other) => Err(bad(self.name, format!("`{key}` takes a name such as `{default}`, not {other:?}"))),
        }
    }

    /// The stage's typed settings, or an error naming the stage and the bad value.
    pub fn parse(&self) -> Result<Stage, CompressError> {
        match self.name {
            "distill" => self.distill().map(Stage::Distill),
            "sparsify" => self.sparsify().map(Stage::Sparsify),
            "prune" => Ok(Stage::Prune(PruneSpec {
                ratio: self.positional().map(|v| ratio(self.name, v)).transpose()?,
                training: self.training(0, 1e-4)?,
            })),
            "fold" => Ok(Stage::Fold),
            "factorize" => Ok(Stage::Factorize(self.training(0, 1e-4)?)),
            "quantize" => Ok(Stage::Quantize(self.training(1, 1e-4)?)),
            other => Err(CompressError::UnknownName {
                what: "stage",
                name: other.to_string(),
                valid: fasterai_vocab::stage_names(),
            }),
        }
    }

    fn distill(&self) -> Result<DistillSpec, CompressError> {
        let (loss, weight) = match self.get("loss") {
            None => (DistillLoss::soft_target(3.0)?, 0.5),
            Some(ArgValue::Word(name)) => (distill_loss(name, &[])?, 0.5),
            Some(ArgValue::Call(name, args)) => {
                let weight = match args.iter().find(|a| a.key == Some("alpha")) {
                    Some(StageArg { value: ArgValue::Number(w), .. }) => *w,
                    Some(other) => return Err(bad("distill", format!("`alpha` is the distillation weight in [0, 1], not {:?}", other.value))),
                    None => 0.5,
                };
                (distill_loss(name, args)?, weight)
            }
            Some(other) => return Err(bad("distill", format!("`loss` takes a loss such as `SoftTarget(temperature = 3.0)`, not {other:?}"))),
        };
        let weight = LossWeight::from_fraction(weight)
            .map_err(|_| bad("distill", format!("the distillation weight `alpha` is {weight}, outside [0, 1]")))?;
        let pairs = match self.get("pairs") {
            None => FeaturePairs::BySpatialSize,
            Some(_) if !loss.is_feature_loss() => {
                return Err(bad(
                    "distill",
                    format!(
                        "`pairs` names the #[tap] feature maps a feature loss compares, but `{}` compares logits: \
                         drop `pairs`, or use a feature loss ({})",
                        loss.name(),
                        fasterai_vocab::losses_comparing(fasterai_vocab::Compares::Features)
                    ),
                ))
            }
            Some(ArgValue::Str(text)) => text.parse()?,
            Some(other) => return Err(bad("distill", format!("`pairs` is a string such as {PAIRS_FORM}, not {other:?}"))),
        };
        Ok(DistillSpec { loss, pairs, weight, training: self.training(1, 1e-3)? })
    }

    fn sparsify(&self) -> Result<SparsifySpec, CompressError> {
        let sparsity = match self.positional() {
            Some(ArgValue::Percent(p)) => Sparsity::from_percent(p),
            Some(ArgValue::Number(f)) => Sparsity::from_fraction(f),
            _ => return Err(bad("sparsify", "give the target sparsity first: `sparsify(50%, ...)`")),
        }
        .map_err(|e| bad("sparsify", e.to_string()))?;
        let global = match self.word("context", "local")? {
            "local" => false,
            "global" => true,
            other => {
                let valid = fasterai_vocab::CONTEXTS.list();
                return Err(bad("sparsify", format!("`context` is one of {valid}, not `{other}`")));
            }
        };
        Ok(SparsifySpec {
            sparsity,
            granularity: self.word("granularity", "filter")?.parse()?,
            global,
            criterion: self.word("criteria", "large_final")?.parse()?,
            schedule: SparsitySchedule::by_name(self.word("schedule", "cos")?)?,
            training: self.training(1, 1e-4)?,
        })
    }
}

fn ratio(stage: &'static str, value: ArgValue) -> Result<Ratio, CompressError> {
    match value {
        ArgValue::Percent(p) => Ratio::from_percent(p),
        ArgValue::Number(f) => Ratio::from_fraction(f),
        other => return Err(bad(stage, format!("a ratio is `50%` or `0.5`, not {other:?}"))),
    }
    .map_err(|e| bad(stage, e.to_string()))
}

/// `SoftTarget(temperature = 3.0)`, `Logits`, `Mutual`, `DecoupledKD(temperature, alpha, beta)`;
/// `Attention(p = 2)`, `FitNet`, `Similarity`, `ActivationBoundaries(margin = 2.0)`.
fn distill_loss(name: &str, args: &[StageArg]) -> Result<DistillLoss, CompressError> {
    let name = if name == "DecoupledKd" { "DecoupledKD" } else { name };
    // Defaults come from the vocabulary `compress!` checks against.
    let number = |key: &str| -> Result<f32, CompressError> {
        match args.iter().find(|a| a.key == Some(key)).map(|a| a.value) {
            None => Ok(fasterai_vocab::loss(name).and_then(|loss| loss.param(key)).map_or(0.0, |p| p.default) as f32),
            Some(ArgValue::Number(v)) => Ok(v as f32),
            Some(other) => Err(bad("distill", format!("`{key}` of `{name}` must be a number, not {other:?}"))),
        }
    };
    match name {
        "SoftTarget" => DistillLoss::soft_target(number("temperature")?),
        "Logits" => Ok(DistillLoss::Logits),
        "Mutual" => Ok(DistillLoss::Mutual),
        "DecoupledKD" | "DecoupledKd" => {
            // `alpha` of the block is the distillation weight; DKD's own weights are `tckd` and `nckd`.
            DistillLoss::decoupled_kd(number("temperature")?, number("tckd")?, number("nckd")?)
        }
        // Feature losses: the student's and the teacher's `#[tap]` maps, paired by spatial size.
        "Attention" => {
            let p = number("p")?;
            if p.fract() != 0.0 {
                return Err(bad("distill", format!("`p` of `Attention` is a whole power such as 2, not {p}")));
            }
            DistillLoss::attention(p as i32)
        }
        "FitNet" => Ok(DistillLoss::FitNet),
        "Similarity" => Ok(DistillLoss::Similarity),
        "ActivationBoundaries" => DistillLoss::activation_boundaries(number("margin")?),
        other => Err(CompressError::UnknownName {
            what: "distillation loss",
            name: other.to_string(),
            valid: format!(
                "{} (logits); {} (#[tap] feature maps)",
                fasterai_vocab::losses_comparing(fasterai_vocab::Compares::Logits),
                fasterai_vocab::losses_comparing(fasterai_vocab::Compares::Features)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::distill::PairSyntaxError;

    const DESIGN: &[StageSpec] = &[
        StageSpec {
            name: "distill",
            args: &[StageArg {
                key: Some("loss"),
                value: ArgValue::Call(
                    "SoftTarget",
                    &[
                        StageArg { key: Some("temperature"), value: ArgValue::Number(3.0) },
                        StageArg { key: Some("alpha"), value: ArgValue::Number(0.5) },
                    ],
                ),
            }],
        },
        StageSpec {
            name: "sparsify",
            args: &[
                StageArg { key: None, value: ArgValue::Percent(50.0) },
                StageArg { key: Some("context"), value: ArgValue::Word("global") },
                StageArg { key: Some("lr"), value: ArgValue::Number(1e-5) },
            ],
        },
        StageSpec { name: "prune", args: &[StageArg { key: None, value: ArgValue::Number(0.5) }] },
        StageSpec { name: "fold", args: &[] },
        StageSpec { name: "quantize", args: &[StageArg { key: Some("epochs"), value: ArgValue::Number(2.0) }] },
    ];

    #[test]
    fn the_design_schedule_parses_with_defaults_filled_in() {
        let stages: Vec<Stage> = DESIGN.iter().map(|s| s.parse().unwrap()).collect();
        let Stage::Distill(d) = &stages[0] else { panic!("{:?}", stages[0]) };
        assert_eq!(d.loss, DistillLoss::SoftTarget { temperature: 3.0 });
        assert_eq!(d.weight.fraction(), 0.5);
        assert_eq!(d.training, Training { epochs: 1, lr: 1e-3 });
        let Stage::Sparsify(s) = &stages[1] else { panic!() };
        assert!(s.global && s.criterion == Criterion::LargeFinal && s.granularity == ConvGranularity::Filter);
        assert_eq!(s.training, Training { epochs: 1, lr: 1e-5 });
        assert_eq!(stages[2], Stage::Prune(PruneSpec { ratio: Some(Ratio::from_percent(50.0).unwrap()), training: Training { epochs: 0, lr: 1e-4 } }));
        assert_eq!(stages[3], Stage::Fold);
        assert_eq!(stages[4], Stage::Quantize(Training { epochs: 2, lr: 1e-4 }));
    }

    #[test]
    fn feature_losses_parse_with_their_parameters() {
        let call = |name: &'static str, args: &'static [StageArg]| StageSpec {
            name: "distill",
            args: Box::leak(Box::new([StageArg { key: Some("loss"), value: ArgValue::Call(name, args) }])),
        };
        let loss = |spec: StageSpec| match spec.parse().unwrap() {
            Stage::Distill(d) => (d.loss, d.weight.fraction()),
            other => panic!("{other:?}"),
        };
        let p3 = &[StageArg { key: Some("p"), value: ArgValue::Number(3.0) }, StageArg { key: Some("alpha"), value: ArgValue::Number(0.25) }];
        assert_eq!(loss(call("Attention", p3)), (DistillLoss::Attention { p: 3 }, 0.25));
        assert_eq!(loss(call("Attention", &[])), (DistillLoss::Attention { p: 2 }, 0.5));
        assert_eq!(loss(call("FitNet", &[])).0, DistillLoss::FitNet);
        assert_eq!(loss(call("Similarity", &[])).0, DistillLoss::Similarity);
        assert_eq!(loss(call("ActivationBoundaries", &[])).0, DistillLoss::ActivationBoundaries { margin: 2.0 });
    }

    #[test]
    fn pairs_name_the_feature_maps_or_default_to_spatial_matching() {
        let distill = |loss: ArgValue, pairs: Option<ArgValue>| {
            let mut args = vec![StageArg { key: Some("loss"), value: loss }];
            args.extend(pairs.map(|value| StageArg { key: Some("pairs"), value }));
            StageSpec { name: "distill", args: Box::leak(args.into_boxed_slice()) }.parse()
        };
        let attention = ArgValue::Call("Attention", &[]);
        let pairs_of = |stage: Result<Stage, CompressError>| match stage.unwrap() {
            Stage::Distill(d) => d.pairs,
            other => panic!("{other:?}"),
        };
        assert_eq!(pairs_of(distill(attention, None)), FeaturePairs::BySpatialSize);
        assert_eq!(
            pairs_of(distill(attention, Some(ArgValue::Str("relu1 -> relu2, relu2 -> relu4")))),
            FeaturePairs::named([("relu1", "relu2"), ("relu2", "relu4")])
        );

        let malformed = distill(attention, Some(ArgValue::Str("relu1 -> relu2, relu1 -> relu4"))).unwrap_err();
        assert!(matches!(malformed, CompressError::BadPairs { ref problem, .. } if *problem == PairSyntaxError::DuplicateStudent { name: "relu1".into() }));
        assert_eq!(
            malformed.to_string(),
            "feature pairs \"relu1 -> relu2, relu1 -> relu4\": student tap `relu1` is paired twice: give each student \
             tap one teacher tap; write \"student_tap -> teacher_tap, student_tap2 -> teacher_tap2\""
        );
        let logits = distill(ArgValue::Call("SoftTarget", &[]), Some(ArgValue::Str("relu1 -> relu2"))).unwrap_err().to_string();
        assert!(logits.contains("`SoftTarget` compares logits") && logits.contains("drop `pairs`"), "{logits}");
        let not_a_string = distill(attention, Some(ArgValue::Word("relu1"))).unwrap_err().to_string();
        assert!(not_a_string.contains("`pairs` is a string such as \"student_tap -> teacher_tap"), "{not_a_string}");
    }

    #[test]
    fn bad_values_name_the_stage_and_the_valid_choices() {
        let spec = StageSpec { name: "sparsify", args: &[StageArg { key: None, value: ArgValue::Percent(50.0) }, StageArg { key: Some("criteria"), value: ArgValue::Word("large_finale") }] };
        let error = spec.parse().unwrap_err().to_string();
        assert!(error.contains("large_finale") && error.contains("large_final"), "{error}");
        let spec = StageSpec { name: "distill", args: &[StageArg { key: Some("loss"), value: ArgValue::Call("SoftTarget", &[StageArg { key: Some("alpha"), value: ArgValue::Number(1.5) }]) }] };
        assert!(spec.parse().unwrap_err().to_string().contains("alpha"));
        let spec = StageSpec { name: "distill", args: &[StageArg { key: Some("loss"), value: ArgValue::Call("Attention", &[StageArg { key: Some("p"), value: ArgValue::Number(1.5) }]) }] };
        assert!(spec.parse().unwrap_err().to_string().contains("whole power"));
        let spec = StageSpec { name: "distill", args: &[StageArg { key: Some("loss"), value: ArgValue::Word("Atention") }] };
        assert!(spec.parse().unwrap_err().to_string().contains("Attention, FitNet, Similarity"));
        let spec = StageSpec { name: "sparsify", args: &[StageArg { key: None, value: ArgValue::Percent(150.0) }] };
        assert!(spec.parse().unwrap_err().to_string().contains("sparsify"));
        let spec = StageSpec { name: "quantize", args: &[StageArg { key: Some("lr"), value: ArgValue::Number(-1.0) }] };
        assert!(spec.parse().unwrap_err().to_string().contains("lr"));
    }
}
