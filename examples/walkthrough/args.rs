//! The walkthrough's command line, parsed by hand (seven flags do not need a parser crate).

use std::path::PathBuf;

use crate::stages::{DatasetChoice, Settings};

/// The help text, printed with `--help` and after every usage error.
pub const USAGE: &str = "\
Usage: cargo run --release --example walkthrough -- [FLAGS]

  --dataset NAME      digits (default, embedded), mnist or fashion-mnist
  --data DIR          IDX directory of mnist / fashion-mnist (default data/mnist, data/fashion-mnist;
                      fill it with scripts/fetch-data.sh)
  --epochs N          epochs of one-cycle training (default 8 for digits, 3 for the 28×28 sets)
  --train-subset N    train on N randomly drawn training images
  --batch-size N      images per batch (default 64)
  --seed N            seed of weights, split and shuffling (default 42)
  --out DIR           where report.json goes (default target/walkthrough)
  --help              this text";

/// A command line the walkthrough cannot run; the message says what to change.
#[derive(Debug)]
pub struct UsageError(pub String);

/// The settings `args` ask for (the program name excluded), starting from the chosen dataset's
/// defaults; every flag takes one value.
pub fn parse_args(args: &[String]) -> Result<Settings, UsageError> {
    // The dataset decides the defaults, so read it first.
    let mut dataset = DatasetChoice::Digits;
    let mut pairs = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| UsageError(format!("`{flag}` needs a value")))?;
        if flag == "--dataset" {
            dataset = DatasetChoice::from_name(value).ok_or_else(|| {
                let names: Vec<&str> = DatasetChoice::ALL.iter().map(|(n, _)| *n).collect();
                UsageError(format!("unknown dataset `{value}`; choose one of {}", names.join(", ")))
            })?;
        } else {
            pairs.push((flag.as_str(), value.as_str()));
        }
    }
    let mut settings = Settings::defaults(dataset);
    for (flag, value) in pairs {
        match flag {
            "--data" => settings.data_dir = Some(PathBuf::from(value)),
            "--epochs" => settings.epochs = positive(flag, value)?,
            "--train-subset" => settings.train_subset = Some(positive(flag, value)?),
            "--batch-size" => settings.batch_size = positive(flag, value)?,
            "--seed" => {
                settings.seed = value
                    .parse()
                    .map_err(|_| UsageError(format!("`--seed` takes a whole number, got `{value}`")))?
            }
            "--out" => settings.out_dir = PathBuf::from(value),
            _ => return Err(UsageError(format!("unknown flag `{flag}`"))),
        }
    }
    if dataset == DatasetChoice::Digits && settings.data_dir.is_some() {
        return Err(UsageError("`--data` is for mnist and fashion-mnist; digits are embedded".into()));
    }
    Ok(settings)
}

/// `value` as a whole number above zero, or a message naming `flag`.
fn positive(flag: &str, value: &str) -> Result<usize, UsageError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UsageError(format!("`{flag}` takes a whole number above 0, got `{value}`"))),
    }
}
