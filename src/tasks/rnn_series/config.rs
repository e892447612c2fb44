//! The configuration of an rnn_series run (`config.json`, and its flags) and its checks.

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::cli::{Flags, FromFlags};
use crate::data::series::{Scaler, SineConfig, TimeAxis};
use crate::data::source::SeriesSource;
use crate::models::RnnConfig;
use crate::optim::OptimConfig;
use crate::session::{RunConfig, Sections, TaskConfig};
use crate::train::LoopConfig;

/// A generated series in place of the CSV (`--synthetic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synthetic {
    /// `sin(2π t / period) + noise · N(0, 1)`, seeded by `--seed`.
    Sine,
}

/// Everything that determines an rnn_series run; written as `config.json`
/// beside a saved checkpoint, and the example's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Config {
    /// The model's shape options (cell, hidden, layers).
    #[command(flatten)]
    pub model: RnnConfig,
    /// Optimizer, epochs, batch size, seed, fine-tuning and schedule
    /// (`optim`, `train`, `tune` in `config.json`).
    #[serde(flatten)]
    #[command(flatten)]
    pub run: RunConfig,
    /// The CSV series and its split (`--csv`, `--column`, `--missing`,
    /// `--train-fraction`, `--val-fraction`, the file's format).
    #[command(flatten)]
    pub source: SeriesSource,
    /// Use a generated series instead of the CSV (seeded by --seed).
    #[arg(long, value_enum)]
    pub synthetic: Option<Synthetic>,
    /// Shape of the synthetic sine.
    #[command(flatten)]
    pub sine: SineConfig,
    /// Past values per input window.
    #[arg(long, value_name = "N")]
    pub window: usize,
    /// Predict the value this many steps after the window's last value.
    #[arg(long, value_name = "N")]
    pub horizon: usize,
    /// Recursive forecast of this many values after the series' end (needs
    /// --horizon 1). With --load (and no --eval-only): only forecast, from the
    /// end of --csv, with the checkpoint's saved scaler; no training.
    #[arg(long, value_name = "N")]
    pub forecast: usize,
    /// The standardisation the model was trained with: fitted on the
    /// training part and saved in `config.json`, so that a loaded model
    /// (`--load`) scales any series as it was trained. `None` before training.
    #[arg(skip)]
    pub scaler: Option<Scaler>,
    /// The time axis of the series trained on (which column, its layout and
    /// frequency), recorded in `config.json`; `None` without a time column.
    #[arg(skip)]
    pub time_axis: Option<TimeAxis>,
}

impl Default for Config {
    /// The tutorial's values — `nn.RNN(1, 10)`, MSE, SGD lr 0.01, 100 epochs —
    /// on the bundled yearly sunspot numbers, windows of 20, one step ahead,
    /// batch 16 (the tutorial never defines its data or loader).
    fn default() -> Self {
        Self {
            model: RnnConfig::default(),
            run: RunConfig {
                optim: OptimConfig {
                    lr: 0.01,
                    ..OptimConfig::default()
                },
                train: LoopConfig {
                    epochs: 100,
                    batch_size: 16,
                    ..LoopConfig::default()
                },
                ..RunConfig::default()
            },
            source: SeriesSource::default(),
            synthetic: None,
            sine: SineConfig::default(),
            window: 20,
            horizon: 1,
            forecast: 0,
            scaler: None,
            time_axis: None,
        }
    }
}

impl FromFlags for Config {
    fn complete(&mut self, flags: &Flags) {
        self.run.complete(flags);
    }
}

impl TaskConfig for Config {
    const SECTIONS: Sections = Sections {
        model: &["model"],
        inputs: &["window", "horizon", "scaler"],
        data: &["source", "synthetic", "sine"],
    };

    fn run(&self) -> &RunConfig {
        &self.run
    }

    /// A `config.json` of versions before the series source had one shape
    /// kept its keys at the top level (`csv`, `column`, ...): they move under `source`.
    fn upgrade(json: &mut serde_json::Value) {
        crate::data::source::upgrade_flattened_source(json);
    }

    /// Checks the values a user can set.
    fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.run.validate()?;
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.horizon == 0 {
            bail!("--horizon must be at least 1");
        }
        if self.forecast > 0 && self.horizon != 1 {
            bail!(
                "--forecast needs --horizon 1: the recursive forecast feeds each prediction \
                 back as the next input (got --horizon {})",
                self.horizon
            );
        }
        if self.model.input_size != 1 || self.model.output_size != 1 {
            bail!("rnn_series models one value per step (input and output size 1)");
        }
        Ok(())
    }
}

impl Config {
    /// The window, horizon and split of the run's windows.
    pub(crate) fn window_spec(&self) -> crate::data::windows::WindowSpec {
        crate::data::windows::WindowSpec {
            window: self.window,
            horizon: self.horizon,
            split: self.source.split,
        }
    }
}
