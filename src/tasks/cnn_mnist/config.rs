//! The configuration of a cnn_mnist run (`config.json`, and its flags) and its checks.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::cli::{Flags, FromFlags};
use crate::data::mnist::{self};
use crate::models::CnnConfig;
use crate::optim::OptimConfig;
use crate::session::{RunConfig, Sections, TaskConfig};
use crate::train::LoopConfig;

/// Everything that determines a cnn_mnist run; written as `config.json`
/// beside a saved checkpoint, and the example's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Config {
    /// The model's shape options.
    #[command(flatten)]
    pub model: CnnConfig,
    /// Optimizer, epochs, batch size, seed, fine-tuning and schedule
    /// (`optim`, `train`, `tune` in `config.json`).
    #[serde(flatten)]
    #[command(flatten)]
    pub run: RunConfig,
    /// Folder with the four MNIST IDX files (raw or .gz); Fashion-MNIST works too.
    /// Without IDX files, MNIST as CSV: mnist_train.csv + mnist_test.csv, or
    /// Kaggle's train.csv (its last 1/7 is then the test set).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Normalise pixels with MNIST's mean/std (0.1307, 0.3081) after scaling to [0, 1].
    #[arg(long)]
    pub normalize: bool,
    /// Train on the first N training images only (quick runs).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Keep only these digits, relabelled 0.. in the order given (the head gets
    /// one output per digit), e.g. `0-4`, `5-9` or `1,7`. Filters train and test
    /// before --train-limit/--test-limit.
    #[arg(long, value_name = "DIGITS", value_parser = parse_digits)]
    pub digits: Option<::std::vec::Vec<i64>>,
    /// Hold out this fraction of the training images for validation
    /// (stratified by digit, seeded by --seed); validation loss and accuracy are
    /// printed every epoch and the test set is evaluated only at the end.
    #[arg(long, value_name = "F", conflicts_with = "folds")]
    pub val_fraction: Option<f64>,
    /// Names of the classes, label 0 first, comma-separated (e.g. Fashion-MNIST's
    /// `T-shirt/top,Trouser,...`): used in the report, the confusion matrix, the
    /// JSON and by --predict's class folders. Default: the digits.
    #[arg(long, value_name = "NAME,...", value_parser = parse_class_names)]
    pub class_names: Option<::std::vec::Vec<String>>,
}

impl Default for Config {
    /// The tutorial's values: SGD, lr 0.001, no momentum, 10 epochs; batch 64.
    fn default() -> Self {
        Self {
            model: CnnConfig::default(),
            run: RunConfig {
                optim: OptimConfig {
                    lr: 0.001,
                    ..OptimConfig::default()
                },
                train: LoopConfig {
                    epochs: 10,
                    batch_size: 64,
                    ..LoopConfig::default()
                },
                ..RunConfig::default()
            },
            data_dir: PathBuf::from("data/mnist"),
            normalize: false,
            train_limit: None,
            test_limit: None,
            digits: None,
            val_fraction: None,
            class_names: None,
        }
    }
}

/// `--class-names` as given: the names, each once (their count is checked
/// against the classes by [`TaskConfig::validate`]).
fn parse_class_names(text: &str) -> Result<Vec<String>> {
    mnist::parse_class_names(text, text.split(',').count())
}

impl FromFlags for Config {
    /// The head gets one output per `--digits` digit.
    fn complete(&mut self, flags: &Flags) {
        self.run.complete(flags);
        if let Some(d) = &self.digits {
            self.model.num_classes = d.len() as i64;
        }
    }
}

impl TaskConfig for Config {
    const SECTIONS: Sections = Sections {
        model: &["model"],
        inputs: &["normalize", "digits", "class_names"],
        data: &[],
    };

    fn run(&self) -> &RunConfig {
        &self.run
    }

    fn validate_folds(&self) -> Result<()> {
        self.check_folds()
    }

    /// Checks the options that depend on each other.
    fn validate(&self) -> Result<()> {
        self.run.validate()?;
        if let Some(d) = &self.digits {
            if d.len() as i64 != self.model.num_classes {
                bail!(
                    "--digits lists {} digits but the model has {} classes",
                    d.len(),
                    self.model.num_classes
                );
            }
        }
        if let Some(names) = &self.class_names {
            if names.len() as i64 != self.model.num_classes {
                bail!(
                    "--class-names gives {} names but the model has {} classes",
                    names.len(),
                    self.model.num_classes
                );
            }
        }
        if let Some(f) = self.val_fraction {
            if !(f > 0.0 && f < 1.0) {
                bail!("--val-fraction must be in (0, 1), got {f}");
            }
        }
        match self.run.tune.early_stopping {
            Some(_) if self.val_fraction.is_none() => bail!(
                "--early-stopping watches the validation loss: add --val-fraction (the test set is not for choosing epochs)"
            ),
            _ => Ok(()),
        }
    }
}

/// Parses `--digits`: `0-4`, `5,7,9` or `0-2,8` (each digit at most once).
pub(crate) fn parse_digits(text: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |t: &str| -> Result<i64> {
            match t.parse::<i64>() {
                Ok(d) if (0..=9).contains(&d) => Ok(d),
                _ => bail!("--digits: `{t}` is not a digit 0-9 (use e.g. 0-4 or 5,6,7)"),
            }
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            bail!("--digits: range {part} is empty");
        }
        for d in lo..=hi {
            if out.contains(&d) {
                bail!("--digits lists {d} twice");
            }
            out.push(d);
        }
    }
    if out.len() < 2 {
        bail!("--digits needs at least two digits, got `{text}`");
    }
    Ok(out)
}

impl Config {
    /// The class names in force: `--class-names`, else the digits.
    pub fn names(&self) -> Vec<String> {
        self.class_names
            .clone()
            .unwrap_or_else(|| mnist::digit_names(self.digits.as_deref()))
    }

    /// [`TaskConfig::validate`] for `--folds`, where the folds are the validation sets.
    fn check_folds(&self) -> Result<()> {
        if self.val_fraction.is_some() {
            bail!("--folds holds out each fold in turn: drop --val-fraction");
        }
        let mut with_val = self.clone();
        with_val.val_fraction = Some(0.5);
        with_val.validate()
    }
}
