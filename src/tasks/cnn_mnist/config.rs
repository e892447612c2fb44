//! The configuration of a cnn_mnist run (`config.json`) and its checks.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::data::mnist::{self};
use crate::models::CnnConfig;
use crate::optim::OptimConfig;
use crate::session::{TaskConfig, TuneConfig};
use crate::train::LoopConfig;

/// Everything that determines a cnn_mnist run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MnistConfig {
    /// The model's shape options.
    pub model: CnnConfig,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Epochs, batch size, seed.
    pub train: LoopConfig,
    /// Folder of the IDX files (or of MNIST as CSV, see `data::mnist::csv_files`).
    pub data_dir: PathBuf,
    /// Normalise pixels with MNIST's mean and std (0.1307, 0.3081) after scaling to [0, 1].
    pub normalize: bool,
    /// Train on the first N training images only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    pub test_limit: Option<usize>,
    /// Keep only these digits (train and test), relabelled `0..len` in this
    /// order; `model.num_classes` must equal their number. Applied before the limits.
    pub digits: Option<Vec<i64>>,
    /// Hold out this fraction of the training images (stratified, seeded) for
    /// validation; the test set is then evaluated only at the end.
    pub val_fraction: Option<f64>,
    /// Names of the classes, label 0 first (`--class-names`); `None`: the
    /// digits (those of `digits`, or 0–9).
    pub class_names: Option<Vec<String>>,
    /// Fine-tuning, learning-rate schedule, early stopping on the validation
    /// loss (which needs `val_fraction`).
    pub tune: TuneConfig,
}

impl Default for MnistConfig {
    /// The tutorial's values: SGD, lr 0.001, no momentum, 10 epochs; batch 64.
    fn default() -> Self {
        Self {
            model: CnnConfig::default(),
            optim: OptimConfig {
                lr: 0.001,
                ..OptimConfig::default()
            },
            train: LoopConfig {
                epochs: 10,
                batch_size: 64,
                ..LoopConfig::default()
            },
            data_dir: PathBuf::from("data/mnist"),
            normalize: false,
            train_limit: None,
            test_limit: None,
            digits: None,
            val_fraction: None,
            class_names: None,
            tune: TuneConfig::default(),
        }
    }
}

impl TaskConfig for MnistConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
    }

    fn validate_folds(&self) -> Result<()> {
        self.check_folds()
    }

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.normalize != self.normalize {
            out.push((
                "--normalize",
                self.normalize.to_string(),
                saved.normalize.to_string(),
            ));
        }
        if saved.digits != self.digits {
            let show = |d: &Option<Vec<i64>>| {
                d.as_ref()
                    .map_or("0-9 (all)".to_string(), |d| format!("{d:?}"))
            };
            out.push(("--digits", show(&self.digits), show(&saved.digits)));
        }
        if saved.class_names.is_some() && saved.class_names != self.class_names {
            let show =
                |n: &Option<Vec<String>>| n.as_ref().map_or("(digits)".into(), |n| n.join(","));
            out.push((
                "--class-names",
                show(&self.class_names),
                show(&saved.class_names),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.normalize = saved.normalize;
        if saved.class_names.is_some() {
            self.class_names = saved.class_names.clone();
        }
        self.digits = saved.digits.clone();
        if let Some(d) = &self.digits {
            self.model.num_classes = d.len() as i64;
        }
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &["--no-logit-relu"]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.model = saved.model.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        (saved.model != self.model).then(|| {
            format!(
                "{:?}, but this run uses {:?} (check --no-logit-relu and --digits)",
                saved.model, self.model
            )
        })
    }

    /// Checks the options that depend on each other.
    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
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
        match self.tune.early_stopping {
            Some(_) if self.val_fraction.is_none() => bail!(
                "--early-stopping watches the validation loss: add --val-fraction (the test set is not for choosing epochs)"
            ),
            _ => Ok(()),
        }
    }
}

/// Parses `--digits`: `0-4`, `5,7,9` or `0-2,8` (each digit at most once).
pub fn parse_digits(text: &str) -> Result<Vec<i64>> {
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

impl MnistConfig {
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
