//! The stages of a `compress!` block and the options each one takes.

use crate::words::{Words, CONTEXTS, CRITERIA, GRANULARITIES, SCHEDULES};

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionValue {
    /// A type, written `key: Type` (the teacher of `distill`).
    Type,
    /// One name of a list (`criteria = large_final`).
    Word(&'static Words),
    /// A distillation loss from [`LOSSES`](crate::LOSSES), with its parameters
    /// (`loss = SoftTarget(temperature = 3.0)`).
    Loss,
    /// A whole number of epochs, at least 1.
    Epochs,
    /// A learning rate: a positive number such as `1e-4`.
    LearningRate,
    /// A share: `90%` or `0.9`.
    Ratio,
    /// A file path in a string, relative to the crate's `Cargo.toml`.
    Path,
    /// Feature pairs in a string, in the grammar of [`pairs`](crate::pairs).
    Pairs,
}

/// One named option of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageOption {
    /// The option's name.
    pub name: &'static str,
    /// What it takes.
    pub value: OptionValue,
}

/// One stage of a `compress!` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageInfo {
    /// The stage's name, as written in a block.
    pub name: &'static str,
    /// Its named options.
    pub options: &'static [StageOption],
    /// Whether it takes a ratio first (`prune(50%)`).
    pub takes_ratio: bool,
    /// What `layer = N` sets, for the stages that accept layer names as keys (`"width"`, `"rank"`).
    pub layer_value: Option<&'static str>,
    /// Whether it changes the model's type (the compressed struct gets new field types).
    pub structural: bool,
}

impl StageInfo {
    /// The option called `name`, if this stage takes it.
    ///
    /// ```
    /// let prune = fasterai_vocab::stage("prune").unwrap();
    /// assert!(prune.option("plan").is_some());
    /// assert!(prune.option("criteria").is_none());
    /// ```
    pub fn option(&self, name: &str) -> Option<&'static StageOption> {
        self.options.iter().find(|option| option.name == name)
    }

    /// The option names joined by `", "`, for messages.
    pub fn option_names(&self) -> String {
        self.options.iter().map(|option| option.name).collect::<Vec<_>>().join(", ")
    }
}

const fn opt(name: &'static str, value: OptionValue) -> StageOption {
    StageOption { name, value }
}

const EPOCHS: StageOption = opt("epochs", OptionValue::Epochs);
const LR: StageOption = opt("lr", OptionValue::LearningRate);

/// Every stage, in the order they usually appear in a block.
pub const STAGES: &[StageInfo] = &[
    StageInfo {
        name: "distill",
        options: &[
            opt("teacher", OptionValue::Type),
            opt("loss", OptionValue::Loss),
            opt("pairs", OptionValue::Pairs),
            EPOCHS,
            LR,
        ],
        takes_ratio: false,
        layer_value: None,
        structural: false,
    },
    StageInfo {
        name: "sparsify",
        options: &[
            opt("granularity", OptionValue::Word(&GRANULARITIES)),
            opt("context", OptionValue::Word(&CONTEXTS)),
            opt("criteria", OptionValue::Word(&CRITERIA)),
            opt("schedule", OptionValue::Word(&SCHEDULES)),
            EPOCHS,
            LR,
        ],
        takes_ratio: true,
        layer_value: None,
        structural: false,
    },
    StageInfo {
        name: "prune",
        options: &[opt("plan", OptionValue::Path), opt("context", OptionValue::Word(&CONTEXTS)), EPOCHS, LR],
        takes_ratio: true,
        layer_value: Some("width"),
        structural: true,
    },
    StageInfo { name: "fold", options: &[], takes_ratio: false, layer_value: None, structural: true },
    StageInfo {
        name: "factorize",
        options: &[opt("energy", OptionValue::Ratio), EPOCHS, LR],
        takes_ratio: true,
        layer_value: Some("rank"),
        structural: true,
    },
    StageInfo { name: "quantize", options: &[EPOCHS, LR], takes_ratio: false, layer_value: None, structural: false },
];

/// The stage called `name`.
///
/// ```
/// assert!(fasterai_vocab::stage("fold").unwrap().structural);
/// assert!(fasterai_vocab::stage("prun").is_none());
/// ```
pub fn stage(name: &str) -> Option<&'static StageInfo> {
    STAGES.iter().find(|stage| stage.name == name)
}

/// The stage names joined by `", "`, for messages.
///
/// ```
/// assert_eq!(fasterai_vocab::stage_names(), "distill, sparsify, prune, fold, factorize, quantize");
/// ```
pub fn stage_names() -> String {
    STAGES.iter().map(|stage| stage.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_found_by_its_name_and_lists_each_option_once() {
        for info in STAGES {
            assert_eq!(stage(info.name), Some(info));
            for (k, option) in info.options.iter().enumerate() {
                assert!(!info.options[..k].iter().any(|o| o.name == option.name), "{}.{}", info.name, option.name);
            }
        }
    }

    #[test]
    fn stages_taking_layer_keys_are_structural() {
        for info in STAGES.iter().filter(|s| s.layer_value.is_some()) {
            assert!(info.structural && info.takes_ratio, "{}", info.name);
        }
    }
}
