//! Every name of `fasterai::vocab` (what `compress!` accepts at compile time) maps to a run-time
//! value, and every run-time value has its name there: the two cannot drift apart.

use fasterai::compress::distill::DistillLoss;
use fasterai::internals::runner::{ArgValue, Stage, StageArg, StageSpec};
use fasterai::compress::sparsify::{ConvGranularity, Criterion, LinearGranularity, SparsitySchedule};
use fasterai::vocab;

#[test]
fn every_criterion_name_is_a_criterion_and_back() {
    for name in vocab::CRITERIA.names {
        let criterion: Criterion = name.parse().unwrap_or_else(|e| panic!("`{name}`: {e}"));
        assert_eq!(criterion.name(), *name);
    }
    for criterion in Criterion::ALL {
        assert!(vocab::CRITERIA.contains(criterion.name()), "{}", criterion.name());
    }
}

#[test]
fn every_schedule_and_granularity_name_maps_to_a_value_and_back() {
    for name in vocab::SCHEDULES.names {
        assert!(SparsitySchedule::by_name(name).is_ok(), "schedule `{name}`");
    }
    for name in vocab::GRANULARITIES.names {
        assert_eq!(name.parse::<ConvGranularity>().unwrap().name(), *name);
    }
    for g in ConvGranularity::ALL {
        assert!(vocab::GRANULARITIES.contains(g.name()), "{}", g.name());
    }
    for name in vocab::LINEAR_GRANULARITIES.names {
        assert_eq!(name.parse::<LinearGranularity>().unwrap().name(), *name);
    }
    for g in LinearGranularity::ALL {
        assert!(vocab::LINEAR_GRANULARITIES.contains(g.name()), "{}", g.name());
    }
    let unknown = SparsitySchedule::by_name("cosine").unwrap_err().to_string();
    assert!(unknown.contains(&vocab::SCHEDULES.list()), "{unknown}");
}

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

/// The stage as `compress!` passes it, with `args` written as `(key, value)`.
fn spec(name: &'static str, args: Vec<(Option<&'static str>, ArgValue)>) -> StageSpec {
    StageSpec { name, args: leak(args.into_iter().map(|(key, value)| StageArg { key, value }).collect()) }
}

#[test]
fn every_stage_and_word_option_parses_at_run_time() {
    for stage in vocab::STAGES {
        let mut args = Vec::new();
        if stage.takes_ratio {
            args.push((None, ArgValue::Percent(50.0)));
        }
        for option in stage.options {
            if let vocab::OptionValue::Word(words) = option.value {
                // `context = global` of prune needs a plan; local is the run time's default.
                args.push((Some(option.name), ArgValue::Word(words.names[0])));
            }
        }
        let parsed = spec(stage.name, args).parse();
        assert!(parsed.is_ok(), "stage `{}`: {parsed:?}", stage.name);
    }
    for name in vocab::CONTEXTS.names {
        let parsed = spec("sparsify", vec![(None, ArgValue::Percent(50.0)), (Some("context"), ArgValue::Word(name))]).parse();
        assert!(parsed.is_ok(), "context `{name}`");
    }
}

#[test]
fn every_loss_parses_with_its_defaults_and_each_parameter() {
    for loss in vocab::LOSSES {
        let parse = |args: Vec<StageArg>| -> DistillLoss {
            let value = ArgValue::Call(loss.name, leak(args));
            match spec("distill", vec![(Some("loss"), value)]).parse() {
                Ok(Stage::Distill(d)) => d.loss,
                other => panic!("`{}`: {other:?}", loss.name),
            }
        };
        let default = parse(Vec::new());
        assert_eq!(default.name(), loss.name);
        assert_eq!(default.is_feature_loss(), loss.compares == vocab::Compares::Features, "{}", loss.name);
        for param in loss.params.iter().chain([&vocab::ALPHA]) {
            let value = if param.range == vocab::ParamRange::Weight { 0.25 } else { param.default + 1.0 };
            let changed = parse(vec![StageArg { key: Some(param.name), value: ArgValue::Number(value) }]);
            // alpha is the distillation weight, not a field of the loss; every other parameter is.
            assert_eq!(changed == default, param.name == "alpha", "{}.{}", loss.name, param.name);
        }
    }
}
