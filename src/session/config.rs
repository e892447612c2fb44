//! The configuration contract of an example: what the shared run path reads
//! from a task's configuration (`config.json`, which is also its command
//! line, see [`crate::cli`]) and how a checkpoint's saved configuration is
//! reconciled with this run's ([`super::saved`]).

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::TuneConfig;
use crate::cli::{Flags, FromFlags};
use crate::optim::OptimConfig;
use crate::train::LoopConfig;

/// The settings of the training run every example shares: optimizer, loop,
/// fine-tuning and schedule. Flattened into each example's configuration, so
/// `config.json` keeps `optim`, `train` and `tune` at its top level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct RunConfig {
    /// Optimizer settings (`--optimizer`, `--lr`, `--momentum`, ...).
    #[command(flatten)]
    pub optim: OptimConfig,
    /// Epochs, batch size, seed.
    #[command(flatten)]
    pub train: LoopConfig,
    /// Fine-tuning, learning-rate schedule, early stopping.
    #[command(flatten)]
    pub tune: TuneConfig,
}

impl RunConfig {
    /// The defaults that follow other flags: AdamW's weight decay, the
    /// cosine schedule's span (`--epochs`).
    pub fn complete(&mut self, flags: &Flags) {
        self.optim.complete(flags);
        self.tune.lr_schedule.complete(self.train.epochs);
    }

    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()
    }
}

/// The top-level keys of an example's `config.json`, by what a checkpoint
/// saved with them fixes.
///
/// When a checkpoint is loaded for use (`--load`), the settings under
/// `model` and `inputs` come from its `config.json` unless their flags are
/// given; a given flag that contradicts it is an error naming both values.
/// `--init-from` (a new task on pre-trained weights) only notes how `inputs`
/// differ. A difference under `data` is a note.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sections {
    /// The model's options: what the weights' names and shapes depend on.
    pub model: &'static [&'static str],
    /// What the model's inputs and outputs mean (normalisation, classes,
    /// windows, the fitted scaler).
    pub inputs: &'static [&'static str],
    /// The data trained on.
    pub data: &'static [&'static str],
}

/// The configuration of an example: its command line and `config.json`,
/// with the pieces the shared run path needs.
pub trait TaskConfig: FromFlags + DeserializeOwned + Clone {
    /// The keys of `config.json` by what a checkpoint fixes ([`Sections`]).
    const SECTIONS: Sections;
    /// Optimizer, loop, fine-tuning and schedule settings.
    fn run(&self) -> &RunConfig;
    /// Checks the values a user can set; errors name the flag.
    fn validate(&self) -> Result<()>;
    /// [`TaskConfig::validate`] for cross-validation, where the folds are the
    /// validation sets.
    fn validate_folds(&self) -> Result<()> {
        self.validate()
    }
    /// Rewrites a `config.json` written by an earlier version into this
    /// version's shape before it is read (default: none needed).
    fn upgrade(_json: &mut serde_json::Value) {}
}
