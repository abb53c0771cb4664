//! The text form of named feature pairs, as `compress!` takes them:
//! `pairs = "student_tap -> teacher_tap, student_tap2 -> teacher_tap2"`.
//!
//! Pairs are separated by commas; in each, the student's `#[tap]` field comes first, then `->`,
//! then the teacher's. Spaces around names are ignored. Every name is a Rust field name; a student
//! tap appears at most once (one student map has one target), a teacher tap may appear in several
//! pairs.
//!
//! `compress!` checks the string at compile time with this grammar, and the run time parses it with
//! the same function.

use std::fmt;

/// The form a pairs string takes, for error messages.
pub const PAIRS_FORM: &str = "\"student_tap -> teacher_tap, student_tap2 -> teacher_tap2\"";

/// What is wrong with a pairs string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairSyntaxError {
    /// The string names no pair at all.
    Empty,
    /// Nothing between two commas, or before the first or after the last.
    EmptyPair {
        /// The 1-based position of the empty pair.
        position: usize,
    },
    /// A pair without `->`.
    MissingArrow {
        /// The pair as written.
        pair: String,
    },
    /// A pair with more than one `->`.
    SeveralArrows {
        /// The pair as written.
        pair: String,
    },
    /// A pair with nothing on one side of `->`.
    EmptyName {
        /// The pair as written.
        pair: String,
        /// `"student"` or `"teacher"`.
        side: &'static str,
    },
    /// A name that is not a field name (letters, digits and `_`, not starting with a digit), nor a
    /// path to a layer inside a residual block (`layer2.1.conv2`).
    NotAFieldName {
        /// The name as written.
        name: String,
    },
    /// A student tap paired twice.
    DuplicateStudent {
        /// The student tap.
        name: String,
    },
}

impl fmt::Display for PairSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the string names no pair"),
            Self::EmptyPair { position } => {
                write!(f, "pair {position} is empty (two commas in a row, or a comma at an end)")
            }
            Self::MissingArrow { pair } => write!(f, "`{pair}` has no `->` between the student tap and the teacher tap"),
            Self::SeveralArrows { pair } => write!(f, "`{pair}` has more than one `->`: write one pair per comma"),
            Self::EmptyName { pair, side } => write!(f, "`{pair}` has no {side} tap name"),
            Self::NotAFieldName { name } => {
                write!(
                    f,
                    "`{name}` is not a field name (letters, digits and `_`, not starting with a digit) nor the path \
                     of a layer inside a residual block (`layer2.1.conv2`)"
                )
            }
            Self::DuplicateStudent { name } => {
                write!(f, "student tap `{name}` is paired twice: give each student tap one teacher tap")
            }
        }
    }
}

impl std::error::Error for PairSyntaxError {}

fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A field name, or a path through blocks and tuple positions to a layer (`layer2.1.conv2`).
fn is_layer_path(name: &str) -> bool {
    let mut segments = name.split('.');
    segments.next().is_some_and(is_field_name)
        && segments.all(|s| is_field_name(s) || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())))
}

/// Parses `"student_tap -> teacher_tap, ..."` into `(student, teacher)` pairs, in the order written.
///
/// ```
/// use fasterai_vocab::pairs::{parse_pairs, PairSyntaxError};
/// let pairs = parse_pairs("relu1 -> relu2, relu2 -> relu4").unwrap();
/// assert_eq!(pairs[1], ("relu2".to_string(), "relu4".to_string()));
/// assert_eq!(parse_pairs("relu1 relu2"), Err(PairSyntaxError::MissingArrow { pair: "relu1 relu2".into() }));
/// ```
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, PairSyntaxError> {
    if text.trim().is_empty() {
        return Err(PairSyntaxError::Empty);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, pair) in text.split(',').enumerate() {
        let pair = pair.trim();
        if pair.is_empty() {
            return Err(PairSyntaxError::EmptyPair { position: k + 1 });
        }
        let sides: Vec<&str> = pair.split("->").map(str::trim).collect();
        let (student, teacher) = match sides[..] {
            [_] => return Err(PairSyntaxError::MissingArrow { pair: pair.to_string() }),
            [student, teacher] => (student, teacher),
            _ => return Err(PairSyntaxError::SeveralArrows { pair: pair.to_string() }),
        };
        for (name, side) in [(student, "student"), (teacher, "teacher")] {
            if name.is_empty() {
                return Err(PairSyntaxError::EmptyName { pair: pair.to_string(), side });
            }
            if !is_layer_path(name) {
                return Err(PairSyntaxError::NotAFieldName { name: name.to_string() });
            }
        }
        if pairs.iter().any(|(s, _)| s == student) {
            return Err(PairSyntaxError::DuplicateStudent { name: student.to_string() });
        }
        pairs.push((student.to_string(), teacher.to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(s, t)| (s.to_string(), t.to_string())).collect()
    }

    #[test]
    fn well_formed_strings_give_the_pairs_in_order() {
        let cases: [(&str, &[(&str, &str)]); 5] = [
            ("relu1 -> relu1", &[("relu1", "relu1")]),
            ("a->b,c->d", &[("a", "b"), ("c", "d")]),
            ("  relu2 ->  relu4 ,\n relu1 -> relu2 ", &[("relu2", "relu4"), ("relu1", "relu2")]),
            ("s1 -> t, s2 -> t, _x9 -> T_2", &[("s1", "t"), ("s2", "t"), ("_x9", "T_2")]),
            ("layer2.1.conv2 -> layer4.0.conv1", &[("layer2.1.conv2", "layer4.0.conv1")]),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_pairs(text), Ok(owned(expected)), "{text:?}");
        }
    }

    #[test]
    fn each_malformed_string_says_what_is_wrong() {
        use PairSyntaxError::*;
        let cases = [
            ("", Empty, "the string names no pair"),
            ("   ", Empty, "the string names no pair"),
            ("a -> b,", EmptyPair { position: 2 }, "pair 2 is empty"),
            ("a -> b,, c -> d", EmptyPair { position: 2 }, "pair 2 is empty"),
            ("a b", MissingArrow { pair: "a b".into() }, "`a b` has no `->`"),
            ("a => b", MissingArrow { pair: "a => b".into() }, "has no `->`"),
            ("a -> b -> c", SeveralArrows { pair: "a -> b -> c".into() }, "more than one `->`"),
            ("-> b", EmptyName { pair: "-> b".into(), side: "student" }, "`-> b` has no student tap name"),
            ("a ->", EmptyName { pair: "a ->".into(), side: "teacher" }, "`a ->` has no teacher tap name"),
            ("a - > b", MissingArrow { pair: "a - > b".into() }, "has no `->`"),
            ("relu 1 -> b", NotAFieldName { name: "relu 1".into() }, "`relu 1` is not a field name"),
            ("a -> 2b", NotAFieldName { name: "2b".into() }, "`2b` is not a field name"),
            ("a -> layer1..conv", NotAFieldName { name: "layer1..conv".into() }, "`layer1..conv` is not a field name"),
            ("a -> b, a -> c", DuplicateStudent { name: "a".into() }, "student tap `a` is paired twice"),
        ];
        for (text, error, message) in cases {
            let got = parse_pairs(text).unwrap_err();
            assert_eq!(got, error, "{text:?}");
            assert!(got.to_string().contains(message), "{text:?}: {got}");
        }
    }
}
