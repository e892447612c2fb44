//! The configuration contract of an example: what the shared run path reads
//! from a task's configuration (`config.json`) and how a checkpoint's saved
//! configuration is reconciled with this run's.

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::TuneConfig;
use crate::optim::OptimConfig;
use crate::train::LoopConfig;

/// The configuration of an example: written as `config.json` beside its
/// checkpoints, with the pieces the shared run path needs.
pub trait TaskConfig: Serialize + DeserializeOwned + Clone {
    /// Optimizer settings.
    fn optim(&self) -> &OptimConfig;
    /// Epochs, batch size, seed.
    fn train(&self) -> &LoopConfig;
    /// Fine-tuning, schedule, early stopping.
    fn tune(&self) -> &TuneConfig;
    /// Checks the values a user can set; errors name the flag.
    fn validate(&self) -> Result<()>;
    /// [`TaskConfig::validate`] for cross-validation, where the folds are the
    /// validation sets.
    fn validate_folds(&self) -> Result<()> {
        self.validate()
    }
    /// When `saved` (a checkpoint's `config.json`) describes another model:
    /// `"<saved options>, but this run uses <these> (check --flag, ...)"`.
    fn model_mismatch(&self, saved: &Self) -> Option<String>;
    /// A note when `saved` was trained on other data (printed, not an error).
    fn data_note(&self, _saved: &Self) -> Option<String> {
        None
    }
    /// The settings that change what the inputs mean (`--normalize`,
    /// `--digits`, `--window`, ...) whose values differ between this run and
    /// `saved`: `(flag, this run's value, saved value)`.
    fn input_differences(&self, _saved: &Self) -> Vec<(&'static str, String, String)> {
        Vec::new()
    }
    /// Takes `saved`'s input settings (those of [`TaskConfig::input_differences`]).
    fn adopt_inputs(&mut self, _saved: &Self) {}
    /// The flags that set the model's options (checked by
    /// [`TaskConfig::model_mismatch`]).
    fn model_flags(&self) -> &'static [&'static str] {
        &[]
    }
    /// Takes `saved`'s model options.
    fn adopt_model(&mut self, _saved: &Self) {}
}
