//! The configuration of an rnn_series run (`config.json`) and its checks.

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::data::series::{Scaler, SineConfig, TimeAxis};
use crate::data::source::SeriesSource;
use crate::models::RnnConfig;
use crate::optim::OptimConfig;
use crate::session::{TaskConfig, TuneConfig};
use crate::train::LoopConfig;

/// A generated series in place of the CSV (`--synthetic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synthetic {
    /// `sin(2π t / period) + noise · N(0, 1)`, seeded by `--seed`.
    Sine,
}

/// Everything that determines an rnn_series run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesConfig {
    /// The model's shape options (cell, hidden, layers).
    pub model: RnnConfig,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Epochs, batch size, seed.
    pub train: LoopConfig,
    /// The CSV series and its split (`--csv`, `--column`, `--missing`,
    /// `--train-fraction`, `--val-fraction`); flattened, so `config.json` keeps its keys.
    #[serde(flatten)]
    pub source: SeriesSource,
    /// Use a generated series instead of the CSV.
    pub synthetic: Option<Synthetic>,
    /// Shape of the synthetic sine.
    pub sine: SineConfig,
    /// Values per input window.
    pub window: usize,
    /// How many steps after the window's last value the target lies.
    pub horizon: usize,
    /// Steps of the recursive forecast from the end of the series (0: none).
    pub forecast: usize,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
    /// The standardisation the model was trained with: fitted on the
    /// training part and saved in `config.json`, so that a loaded model
    /// (`--load`) scales any series as it was trained. `None` before training.
    pub scaler: Option<Scaler>,
    /// The time axis of the series trained on (which column, its layout and
    /// frequency), recorded in `config.json`; `None` without a time column.
    pub time_axis: Option<TimeAxis>,
}

impl Default for SeriesConfig {
    /// The tutorial's values — `nn.RNN(1, 10)`, MSE, SGD lr 0.01, 100 epochs —
    /// on the bundled yearly sunspot numbers, windows of 20, one step ahead,
    /// batch 16 (the tutorial never defines its data or loader).
    fn default() -> Self {
        Self {
            model: RnnConfig::default(),
            optim: OptimConfig {
                lr: 0.01,
                ..OptimConfig::default()
            },
            train: LoopConfig {
                epochs: 100,
                batch_size: 16,
                ..LoopConfig::default()
            },
            source: SeriesSource::default(),
            synthetic: None,
            sine: SineConfig::default(),
            window: 20,
            horizon: 1,
            forecast: 0,
            tune: TuneConfig::default(),
            scaler: None,
            time_axis: None,
        }
    }
}

impl TaskConfig for SeriesConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &["--cell", "--hidden", "--layers"]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.model = saved.model.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        (saved.model != self.model).then(|| {
            format!(
                "{:?}, but this run uses {:?} (check --cell, --hidden, --layers)",
                saved.model, self.model
            )
        })
    }

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.window != self.window {
            out.push((
                "--window",
                self.window.to_string(),
                saved.window.to_string(),
            ));
        }
        if saved.horizon != self.horizon {
            out.push((
                "--horizon",
                self.horizon.to_string(),
                saved.horizon.to_string(),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.window = saved.window;
        self.horizon = saved.horizon;
        self.scaler = saved.scaler;
    }

    fn data_note(&self, saved: &Self) -> Option<String> {
        let data = |c: &SeriesConfig| (c.source.clone(), c.synthetic, c.window, c.horizon);
        (data(saved) != data(self)).then(|| {
            "was trained on other data or windows (its saved scaler, when it has one, is used)"
                .to_string()
        })
    }

    /// Checks the values a user can set.
    fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
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

impl SeriesConfig {
    /// The window, horizon and split of the run's windows.
    pub fn window_spec(&self) -> crate::data::windows::WindowSpec {
        crate::data::windows::WindowSpec {
            window: self.window,
            horizon: self.horizon,
            split: self.source.split,
        }
    }
}
