//! Lists of names a value may take, such as the sparsity criteria.

/// A closed list of names, with what they name (for messages).
///
/// ```
/// use fasterai_vocab::SCHEDULES;
/// assert!(SCHEDULES.contains("cos"));
/// assert!(!SCHEDULES.contains("cosine"));
/// assert_eq!(SCHEDULES.what, "schedule");
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Words {
    /// What one name of the list names, in the singular: `"criterion"`.
    pub what: &'static str,
    /// The names, in the order the documentation gives them.
    pub names: &'static [&'static str],
}

impl Words {
    /// Whether `name` is in the list (exact spelling).
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// The names joined by `", "`, for messages.
    ///
    /// ```
    /// assert_eq!(fasterai_vocab::CONTEXTS.list(), "local, global");
    /// ```
    pub fn list(&self) -> String {
        self.names.join(", ")
    }
}

/// How `sparsify` scores weights (`criteria = large_final`): fasterai's criteria, snake_case.
pub const CRITERIA: Words = Words {
    what: "criterion",
    names: &[
        "random",
        "large_final",
        "squared_final",
        "small_final",
        "large_init",
        "small_init",
        "large_init_large_final",
        "small_init_small_final",
        "magnitude_increase",
        "movement",
        "movmag",
        "updating_magnitude_increase",
        "updating_movement",
        "updating_movmag",
        "wanda",
        "taylor",
        "taylor_or_squared",
    ],
};

/// How sparsity grows over training (`schedule = cos`).
pub const SCHEDULES: Words =
    Words { what: "schedule", names: &["one_shot", "iterative", "agp", "one_cycle", "cos", "lin", "dsd"] };

/// What `sparsify` removes together in a convolution (`granularity = filter`).
pub const GRANULARITIES: Words = Words {
    what: "granularity",
    names: &[
        "weight",
        "shared_weight",
        "channel",
        "column",
        "row",
        "kernel",
        "filter",
        "shared_channel",
        "shared_column",
        "shared_row",
        "vertical_slice",
        "horizontal_slice",
        "shared_vertical_slice",
        "shared_horizontal_slice",
        "shared_kernel",
        "layer",
    ],
};

/// What is removed together in a linear layer (the run time's `LinearGranularity`).
pub const LINEAR_GRANULARITIES: Words =
    Words { what: "linear granularity", names: &["weight", "column", "row", "layer"] };

/// Whether layers are ranked each on its own or all together (`context = local`).
pub const CONTEXTS: Words = Words { what: "context", names: &["local", "global"] };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_list_repeats_a_name() {
        for words in [&CRITERIA, &SCHEDULES, &GRANULARITIES, &LINEAR_GRANULARITIES, &CONTEXTS] {
            for (k, name) in words.names.iter().enumerate() {
                assert!(!words.names[..k].contains(name), "{} `{name}` twice", words.what);
            }
        }
    }

    #[test]
    fn linear_granularities_are_conv_granularities_too() {
        for name in LINEAR_GRANULARITIES.names {
            assert!(GRANULARITIES.contains(name), "{name}");
        }
    }
}
