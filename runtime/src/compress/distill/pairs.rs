//! Which student activation a feature loss compares with which teacher activation: pairs named by
//! the user, or matched by spatial size (fasterai's `match_feature_layers`), checked against the
//! models' static tap shapes before any forward pass.

use serde::{Deserialize, Serialize};

use fasterai_vocab::pairs::parse_pairs;
use super::DistillLoss;
use crate::compress::CompressError;
use crate::model::{ShapeInfo, TapInfo, TappedForward};

/// How to pair the student's `#[tap]` layers with the teacher's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeaturePairs {
    /// `(student tap, teacher tap)` field names, compared in this order.
    Named(Vec<(String, String)>),
    /// For each spatial size `H×W` both models have among their feature-map taps, the last tap of
    /// that size in each (fasterai keeps the shallowest module per size and the later one among
    /// equally shallow ones; every field of a derived model is equally shallow). Flat taps and 1×1
    /// maps are left out. Pairs follow the student's order.
    BySpatialSize,
}

impl FeaturePairs {
    /// Pairs given by name.
    ///
    /// ```
    /// use fasterai_runtime::compress::distill::FeaturePairs;
    /// let pairs = FeaturePairs::named([("conv2", "conv4")]);
    /// assert_eq!(pairs, FeaturePairs::Named(vec![("conv2".into(), "conv4".into())]));
    /// ```
    pub fn named<A: Into<String>, B: Into<String>>(pairs: impl IntoIterator<Item = (A, B)>) -> Self {
        Self::Named(pairs.into_iter().map(|(s, t)| (s.into(), t.into())).collect())
    }
}

/// Named pairs from their text form, `"student_tap -> teacher_tap, student_tap2 -> teacher_tap2"`
/// (the `pairs = ".."` of `compress!`'s `distill`; grammar in [`parse_pairs`]). A malformed string
/// is a [`CompressError::BadPairs`] saying what is wrong.
///
/// ```
/// use fasterai_runtime::compress::distill::FeaturePairs;
/// let pairs: FeaturePairs = "relu1 -> relu2, relu2 -> relu4".parse().unwrap();
/// assert_eq!(pairs, FeaturePairs::named([("relu1", "relu2"), ("relu2", "relu4")]));
/// let error = "relu1 relu2".parse::<FeaturePairs>().unwrap_err().to_string();
/// assert!(error.contains("`relu1 relu2` has no `->`"), "{error}");
/// ```
impl std::str::FromStr for FeaturePairs {
    type Err = CompressError;

    fn from_str(text: &str) -> Result<Self, CompressError> {
        parse_pairs(text)
            .map(FeaturePairs::Named)
            .map_err(|problem| CompressError::BadPairs { text: text.to_string(), problem })
    }
}

/// A student tap and the teacher tap it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeaturePair {
    /// The student's tapped layer.
    pub student: TapInfo,
    /// The teacher's tapped layer.
    pub teacher: TapInfo,
}

/// The last tap of each spatial size (not 1×1, not flat), in order of each size's first appearance.
fn last_per_size(taps: &[TapInfo]) -> Vec<((usize, usize), TapInfo)> {
    let mut sizes: Vec<((usize, usize), TapInfo)> = Vec::new();
    for tap in taps {
        let ShapeInfo::Chw { h, w, .. } = tap.shape else { continue };
        if (h, w) == (1, 1) {
            continue;
        }
        match sizes.iter_mut().find(|(size, _)| *size == (h, w)) {
            Some(entry) => entry.1 = *tap,
            None => sizes.push(((h, w), *tap)),
        }
    }
    sizes
}

/// fasterai's `match_feature_layers` on the static tap shapes: see [`FeaturePairs::BySpatialSize`].
///
/// ```
/// use fasterai_runtime::compress::distill::match_by_spatial_size;
/// use fasterai_runtime::model::{ShapeInfo, TapInfo};
/// let tap = |name, c, h| TapInfo { name, shape: ShapeInfo::Chw { c, h, w: h } };
/// let student = [tap("a", 4, 8), tap("b", 8, 4)];
/// let teacher = [tap("x", 16, 8), tap("y", 16, 8), tap("z", 32, 2)];
/// let pairs: Vec<_> = match_by_spatial_size(&student, &teacher).iter().map(|p| (p.student.name, p.teacher.name)).collect();
/// assert_eq!(pairs, [("a", "y")]);
/// ```
pub fn match_by_spatial_size(student: &[TapInfo], teacher: &[TapInfo]) -> Vec<FeaturePair> {
    let teacher = last_per_size(teacher);
    last_per_size(student)
        .into_iter()
        .filter_map(|(size, s)| {
            let (_, t) = teacher.iter().find(|(other, _)| *other == size)?;
            Some(FeaturePair { student: s, teacher: *t })
        })
        .collect()
}

/// Whether `loss` can compare the pair's maps, from their static shapes.
///
/// FitNet and ActivationBoundaries compare values one by one (equal `C×H×W`); Attention compares
/// spatial maps (equal `H×W`, larger than 1×1, since a single-position map normalises to 1);
/// Similarity compares batch Gram matrices and takes any two shapes.
pub fn check_pair(loss: &DistillLoss, pair: &FeaturePair) -> Result<(), CompressError> {
    let (s, t) = (pair.student.chw(), pair.teacher.chw());
    let why = match loss {
        DistillLoss::FitNet | DistillLoss::ActivationBoundaries { .. } if s != t => Some(
            "the loss compares the maps value by value, so they need identical C×H×W (there is no \
             regressor mapping channels); pair taps of the same shape",
        ),
        DistillLoss::Attention { .. } if (s.1, s.2) != (t.1, t.2) => {
            Some("attention maps need the same spatial size H×W (channels may differ); pair taps of equal H×W")
        }
        DistillLoss::Attention { .. } if (s.1, s.2) == (1, 1) => Some(
            "a 1×1 attention map always normalises to 1, so the loss would be 0 whatever the student does; \
             pair convolutional taps",
        ),
        _ if !loss.is_feature_loss() => Some("the loss compares logits, not feature maps"),
        _ => None,
    };
    match why {
        None => Ok(()),
        Some(why) => Err(CompressError::IncompatibleTaps {
            loss: loss.name(),
            student: pair.student.name,
            student_shape: pair.student.shape,
            teacher: pair.teacher.name,
            teacher_shape: pair.teacher.shape,
            why,
        }),
    }
}

fn find_tap(model: &'static str, taps: &'static [TapInfo], name: &str) -> Result<TapInfo, CompressError> {
    taps.iter().find(|tap| tap.name == name).copied().ok_or_else(|| CompressError::UnknownTap {
        model,
        name: name.to_string(),
        valid: if taps.is_empty() {
            "none (mark layers with #[tap])".to_string()
        } else {
            taps.iter().map(|tap| tap.name).collect::<Vec<_>>().join(", ")
        },
    })
}

/// Resolves `pairs` on the tap lists of a student and a teacher and checks each pair with `loss`.
pub fn resolve_pairs_on(
    pairs: &FeaturePairs,
    loss: &DistillLoss,
    student: &'static [TapInfo],
    teacher: &'static [TapInfo],
) -> Result<Vec<FeaturePair>, CompressError> {
    let resolved = match pairs {
        FeaturePairs::Named(names) => names
            .iter()
            .map(|(s, t)| Ok(FeaturePair { student: find_tap("student", student, s)?, teacher: find_tap("teacher", teacher, t)? }))
            .collect::<Result<Vec<_>, CompressError>>()?,
        FeaturePairs::BySpatialSize => match_by_spatial_size(student, teacher),
    };
    if resolved.is_empty() {
        let list = |taps: &[TapInfo]| taps.iter().map(|t| format!("{} ({})", t.name, t.shape)).collect::<Vec<_>>().join(", ");
        return Err(CompressError::NoFeaturePairs {
            reason: match pairs {
                FeaturePairs::Named(_) => "the list of named pairs is empty".to_string(),
                FeaturePairs::BySpatialSize => format!(
                    "no spatial size larger than 1×1 is shared by a student tap [{}] and a teacher tap [{}]; \
                     tap layers of equal H×W or name the pairs",
                    list(student),
                    list(teacher)
                ),
            },
        });
    }
    for pair in &resolved {
        check_pair(loss, pair)?;
    }
    Ok(resolved)
}

/// Resolves `pairs` between the student model `S` and the teacher model `T` and checks every pair
/// with `loss`, from the models' static tap shapes (no forward pass).
///
/// Errors: an unknown tap name ([`CompressError::UnknownTap`], listing the model's taps), a pair
/// `loss` cannot compare ([`CompressError::IncompatibleTaps`], saying why), no pair at all.
pub fn resolve_pairs<S: TappedForward, T: TappedForward>(
    pairs: &FeaturePairs,
    loss: &DistillLoss,
) -> Result<Vec<FeaturePair>, CompressError> {
    resolve_pairs_on(pairs, loss, S::TAPS, T::TAPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn chw(name: &'static str, c: usize, h: usize, w: usize) -> TapInfo {
        TapInfo { name, shape: ShapeInfo::Chw { c, h, w } }
    }

    static STUDENT: [TapInfo; 4] =
        [chw("s1", 4, 8, 8), chw("s2", 4, 8, 8), chw("s3", 8, 4, 4), TapInfo { name: "fc", shape: ShapeInfo::Flat { n: 8 } }];
    static TEACHER: [TapInfo; 4] = [chw("t1", 8, 8, 8), chw("t2", 16, 4, 4), chw("t3", 16, 4, 4), chw("gap", 16, 1, 1)];

    fn names(pairs: &[FeaturePair]) -> Vec<(&str, &str)> {
        pairs.iter().map(|p| (p.student.name, p.teacher.name)).collect()
    }

    #[test]
    fn spatial_matching_keeps_the_last_tap_per_size_and_skips_flat_and_one_by_one() {
        let cases: [(&[TapInfo], &[TapInfo], Vec<(&str, &str)>, &str); 4] = [
            (&STUDENT, &TEACHER, vec![("s2", "t1"), ("s3", "t3")], "later tap wins on each side"),
            (&TEACHER, &STUDENT, vec![("t1", "s2"), ("t3", "s3")], "order follows the first argument"),
            (&STUDENT[3..], &TEACHER, vec![], "a flat tap never matches"),
            (&TEACHER[3..], &TEACHER[3..], vec![], "1×1 maps are dropped"),
        ];
        for (student, teacher, expected, why) in cases {
            assert_eq!(names(&match_by_spatial_size(student, teacher)), expected, "{why}");
        }
    }

    #[test]
    fn each_loss_accepts_exactly_the_shapes_it_can_compare() {
        let pair = |s: TapInfo, t: TapInfo| FeaturePair { student: s, teacher: t };
        let same = pair(chw("a", 4, 8, 8), chw("b", 4, 8, 8));
        let wider = pair(chw("a", 4, 8, 8), chw("b", 16, 8, 8));
        let smaller = pair(chw("a", 4, 8, 8), chw("b", 4, 4, 4));
        let flat = pair(STUDENT[3], TapInfo { name: "t", shape: ShapeInfo::Flat { n: 8 } });
        let attention = DistillLoss::Attention { p: 2 };
        let boundaries = DistillLoss::ActivationBoundaries { margin: 2.0 };
        for (loss, pair, ok, why) in [
            (DistillLoss::FitNet, same, true, "identical shapes"),
            (DistillLoss::FitNet, wider, false, "FitNet has no regressor"),
            (boundaries, flat, true, "flat taps of equal width compare value by value"),
            (attention, wider, true, "attention averages channels away"),
            (attention, smaller, false, "attention needs equal H×W"),
            (attention, flat, false, "a 1×1 attention map is constant"),
            (DistillLoss::Similarity, smaller, true, "Gram matrices are batch × batch"),
            (DistillLoss::Logits, same, false, "not a feature loss"),
        ] {
            assert_eq!(check_pair(&loss, &pair).is_ok(), ok, "{}: {why}", loss.name());
        }
    }

    #[test]
    fn errors_name_the_bad_tap_and_list_the_valid_ones() {
        let fitnet = DistillLoss::FitNet;
        let unknown = resolve_pairs_on(&FeaturePairs::named([("s9", "t1")]), &fitnet, &STUDENT, &TEACHER).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "the student has no tapped layer `s9`; its #[tap] layers: s1, s2, s3, fc"
        );
        let teacher = resolve_pairs_on(&FeaturePairs::named([("s1", "conv")]), &fitnet, &STUDENT, &[]).unwrap_err();
        assert!(teacher.to_string().contains("the teacher has no tapped layer `conv`; its #[tap] layers: none"), "{teacher}");
        let shapes = resolve_pairs_on(&FeaturePairs::named([("s1", "t1")]), &fitnet, &STUDENT, &TEACHER).unwrap_err();
        let text = shapes.to_string();
        assert!(text.starts_with("FitNet cannot compare student tap `s1` (4×8×8) with teacher tap `t1` (8×8×8)"), "{text}");
        let none = resolve_pairs_on(&FeaturePairs::BySpatialSize, &fitnet, &STUDENT[3..], &TEACHER).unwrap_err();
        assert!(none.to_string().contains("fc (8)"), "{none}");
        let empty = resolve_pairs_on(&FeaturePairs::Named(vec![]), &fitnet, &STUDENT, &TEACHER).unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
    }

    #[test]
    fn matched_pairs_are_checked_too() {
        // s2 (4×8×8) meets t1 (8×8×8): fine for Attention, not for FitNet.
        let attention = resolve_pairs_on(&FeaturePairs::BySpatialSize, &DistillLoss::Attention { p: 2 }, &STUDENT, &TEACHER);
        assert_eq!(names(&attention.unwrap()), [("s2", "t1"), ("s3", "t3")]);
        assert!(resolve_pairs_on(&FeaturePairs::BySpatialSize, &DistillLoss::FitNet, &STUDENT, &TEACHER).is_err());
    }
}
