//! The distillation losses `distill(loss = ..)` takes, and their parameters.

/// What a loss compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compares {
    /// The student's and the teacher's logits.
    Logits,
    /// The student's and the teacher's `#[tap]` feature maps.
    Features,
}

/// The values a loss parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamRange {
    /// Above 0.
    Positive,
    /// 0 or above.
    NonNegative,
    /// A whole number of at least 1.
    WholeAtLeastOne,
    /// Above 0 and at most 1 (0 would switch distillation off).
    Weight,
}

impl ParamRange {
    /// Whether `value` is in the range.
    ///
    /// ```
    /// use fasterai_vocab::ParamRange;
    /// assert!(ParamRange::Weight.accepts(1.0));
    /// assert!(!ParamRange::Weight.accepts(0.0));
    /// assert!(!ParamRange::WholeAtLeastOne.accepts(1.5));
    /// ```
    pub fn accepts(self, value: f64) -> bool {
        value.is_finite()
            && match self {
                ParamRange::Positive => value > 0.0,
                ParamRange::NonNegative => value >= 0.0,
                ParamRange::WholeAtLeastOne => value >= 1.0 && value.fract() == 0.0,
                ParamRange::Weight => value > 0.0 && value <= 1.0,
            }
    }

    /// The range in words, for messages: `"a number above 0"`.
    pub fn describe(self) -> &'static str {
        match self {
            ParamRange::Positive => "a number above 0",
            ParamRange::NonNegative => "a number of at least 0",
            ParamRange::WholeAtLeastOne => "a whole number of at least 1",
            ParamRange::Weight => "a number above 0 and at most 1 (0 would switch distillation off)",
        }
    }
}

/// One parameter of a loss: `temperature = 3.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParam {
    /// The parameter's name.
    pub name: &'static str,
    /// Its value when not written.
    pub default: f64,
    /// The values it accepts.
    pub range: ParamRange,
}

/// `alpha`, which every loss takes: the weight of the distillation term,
/// loss = (1 − alpha)·task + alpha·distill.
pub const ALPHA: LossParam = LossParam { name: "alpha", default: 0.5, range: ParamRange::Weight };

/// A distillation loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Its name, as written in a block.
    pub name: &'static str,
    /// What it compares.
    pub compares: Compares,
    /// Its own parameters ([`ALPHA`] is accepted by every loss besides these).
    pub params: &'static [LossParam],
}

impl Loss {
    /// The parameter called `name` (its own, or [`ALPHA`]).
    ///
    /// ```
    /// let soft = fasterai_vocab::loss("SoftTarget").unwrap();
    /// assert_eq!(soft.param("temperature").unwrap().default, 3.0);
    /// assert!(soft.param("alpha").is_some());
    /// assert!(soft.param("margin").is_none());
    /// ```
    pub fn param(&self, name: &str) -> Option<&'static LossParam> {
        if name == ALPHA.name {
            return Some(&ALPHA);
        }
        LOSSES.iter().find(|loss| loss.name == self.name)?.params.iter().find(|param| param.name == name)
    }

    /// Its parameter names, `alpha` last, joined by `", "`.
    pub fn param_names(&self) -> String {
        let mut names: Vec<&str> = self.params.iter().map(|param| param.name).collect();
        names.push(ALPHA.name);
        names.join(", ")
    }
}

const fn param(name: &'static str, default: f64, range: ParamRange) -> LossParam {
    LossParam { name, default, range }
}

/// Every distillation loss: the logit losses first, then the feature losses.
pub const LOSSES: &[Loss] = &[
    Loss { name: "SoftTarget", compares: Compares::Logits, params: &[param("temperature", 3.0, ParamRange::Positive)] },
    Loss { name: "Logits", compares: Compares::Logits, params: &[] },
    Loss { name: "Mutual", compares: Compares::Logits, params: &[] },
    Loss {
        name: "DecoupledKD",
        compares: Compares::Logits,
        params: &[
            param("temperature", 4.0, ParamRange::Positive),
            param("tckd", 1.0, ParamRange::NonNegative),
            param("nckd", 8.0, ParamRange::NonNegative),
        ],
    },
    Loss { name: "Attention", compares: Compares::Features, params: &[param("p", 2.0, ParamRange::WholeAtLeastOne)] },
    Loss { name: "FitNet", compares: Compares::Features, params: &[] },
    Loss { name: "Similarity", compares: Compares::Features, params: &[] },
    Loss {
        name: "ActivationBoundaries",
        compares: Compares::Features,
        params: &[param("margin", 2.0, ParamRange::NonNegative)],
    },
];

/// The loss called `name`.
///
/// ```
/// use fasterai_vocab::{loss, Compares};
/// assert_eq!(loss("Attention").unwrap().compares, Compares::Features);
/// assert!(loss("Atention").is_none());
/// ```
pub fn loss(name: &str) -> Option<&'static Loss> {
    LOSSES.iter().find(|loss| loss.name == name)
}

/// The loss names that compare `compares`, joined by `", "`.
///
/// ```
/// use fasterai_vocab::{losses_comparing, Compares};
/// assert_eq!(losses_comparing(Compares::Features), "Attention, FitNet, Similarity, ActivationBoundaries");
/// ```
pub fn losses_comparing(compares: Compares) -> String {
    LOSSES.iter().filter(|loss| loss.compares == compares).map(|loss| loss.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_in_its_range() {
        for loss in LOSSES {
            for param in loss.params.iter().chain([&ALPHA]) {
                assert!(param.range.accepts(param.default), "{}.{}", loss.name, param.name);
            }
        }
    }
}
