//! The configuration of a transformer_seq run (`config.json`, and its flags) and its checks.

use anyhow::{ensure, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::cli::{Flags, FromFlags};
use crate::data::sequence::{RecallConfig, WINDOW};
use crate::data::source::SeriesSource;
use crate::models::seq_model::Arch;
use crate::models::{SeqLstmConfig, TransformerConfig};
use crate::session::{RunConfig, Sections, TaskConfig};
use crate::train::LoopConfig;

/// Which data (`--task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceKind {
    /// A real series from a CSV file: previous 10 values → next value, every step.
    #[default]
    Series,
    /// Synthetic delayed recall: the target at step t is feature 0 of step t − delay.
    Recall,
}

impl SequenceKind {
    /// Sequence length when `--seq-len` is not given: 32 for series, 2 × delay for recall.
    pub(crate) fn default_seq_len(self, recall: &RecallConfig) -> usize {
        match self {
            SequenceKind::Series => 32,
            SequenceKind::Recall => 2 * recall.delay,
        }
    }

    /// Whether the transformer uses the causal mask unless told otherwise. On for
    /// `series`: there the input of step t+1 holds the target of step t, so an
    /// unmasked encoder reads the answer from the next step. Off for `recall`,
    /// whose targets are past inputs only.
    pub(crate) fn default_causal(self) -> bool {
        self == SequenceKind::Series
    }
}

/// Everything that determines a transformer_seq run; written as `config.json`
/// beside a saved checkpoint, and the example's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Config {
    /// Model.
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Data: a CSV series (previous 10 values → next value at every step) or
    /// the synthetic delayed-recall problem (target = feature 0 from --delay steps back).
    #[arg(long, value_enum)]
    pub task: SequenceKind,
    /// Steps per sequence [default: 32 for series, 2 × --delay for recall].
    #[arg(long, value_name = "N")]
    pub seq_len: Option<usize>,
    /// Options of `--arch transformer`.
    #[command(flatten)]
    pub transformer: TransformerConfig,
    /// No causal mask (for --task series this lets the model read the answer).
    /// A flag only: `transformer.causal` holds the mask in `config.json`.
    #[serde(skip)]
    #[arg(long, conflicts_with = "causal")]
    pub no_causal: bool,
    /// Options of `--arch lstm`.
    #[command(flatten)]
    pub lstm: SeqLstmConfig,
    /// Optimizer (the tutorial's SGD, lr 0.01), epochs (the tutorial's 100),
    /// batch size, seed, fine-tuning and schedule (`optim`, `train`, `tune`).
    #[serde(flatten)]
    #[command(flatten)]
    pub run: RunConfig,
    /// Options of `--task series` (`series` in `config.json` before; read too).
    #[command(flatten)]
    pub source: SeriesSource,
    /// Options of `--task recall`.
    #[command(flatten)]
    pub recall: RecallConfig,
    /// The time axis of the series trained on (column, layout, frequency),
    /// recorded in `config.json`; `None` without a time column or for `--task recall`.
    #[arg(skip)]
    pub time_axis: Option<crate::data::series::TimeAxis>,
}

impl Default for Config {
    /// The tutorial's values: MSE, SGD lr 0.01, 100 epochs; batch 16 where it is silent.
    fn default() -> Self {
        Self::for_task(SequenceKind::Series)
    }
}

impl Config {
    /// The defaults for `task` (its causal-mask default included).
    pub fn for_task(task: SequenceKind) -> Self {
        Self {
            arch: Arch::Transformer,
            task,
            seq_len: None,
            transformer: TransformerConfig {
                input_size: WINDOW as i64,
                causal: task.default_causal(),
                ..TransformerConfig::default()
            },
            no_causal: false,
            lstm: SeqLstmConfig::default(),
            run: RunConfig {
                train: LoopConfig {
                    epochs: 100,
                    batch_size: 16,
                    ..LoopConfig::default()
                },
                ..RunConfig::default()
            },
            source: SeriesSource::default(),
            recall: RecallConfig::default(),
            time_axis: None,
        }
    }

    /// The sequence length in force.
    pub fn seq_len(&self) -> usize {
        self.seq_len
            .unwrap_or_else(|| self.task.default_seq_len(&self.recall))
    }

    /// Checks the values a user can set.
    fn check(&self) -> Result<()> {
        self.run.validate()?;
        let l = self.seq_len();
        ensure!(l >= 1, "--seq-len must be at least 1");
        match self.arch {
            Arch::Transformer => {
                self.transformer.validate()?;
                ensure!(
                    self.transformer.input_size == WINDOW as i64,
                    "the transformer's input size must be {WINDOW}"
                );
            }
            Arch::Lstm => ensure!(
                self.lstm.input_size == WINDOW as i64 && self.lstm.hidden_size >= 1,
                "the LSTM's input size must be {WINDOW} and its hidden size at least 1"
            ),
        }
        if self.task == SequenceKind::Recall {
            let r = &self.recall;
            ensure!(r.delay >= 1, "--delay must be at least 1");
            ensure!(
                l > r.delay,
                "--seq-len {l} must exceed --delay {}: otherwise no step has a target to recall",
                r.delay
            );
            ensure!(
                r.train >= 1 && r.val >= 1 && r.test >= 1,
                "the recall task needs at least one train, validation and test sequence"
            );
        }
        Ok(())
    }
}

/// A one-line description of the model options.
pub(crate) fn model_summary(cfg: &Config) -> String {
    match cfg.arch {
        Arch::Transformer => {
            let t = &cfg.transformer;
            format!(
                "d_model {}, {} heads, {} layers, ff {}, dropout {}, {}",
                t.d_model,
                t.heads,
                t.layers,
                t.ff_dim,
                t.dropout,
                if t.causal { "causal mask" } else { "no mask" }
            )
        }
        Arch::Lstm => format!(
            "LSTM({}, {}) + Linear({}, 1)",
            cfg.lstm.input_size, cfg.lstm.hidden_size, cfg.lstm.hidden_size
        ),
    }
}

impl FromFlags for Config {
    /// The causal mask follows `--task` unless `--causal` or `--no-causal`
    /// is given; the sequence length in force is written down.
    fn complete(&mut self, flags: &Flags) {
        self.run.complete(flags);
        if self.no_causal {
            self.transformer.causal = false;
        } else if !flags.given("causal") {
            self.transformer.causal = self.task.default_causal();
        }
        self.seq_len = Some(self.seq_len());
    }
}

impl TaskConfig for Config {
    const SECTIONS: Sections = Sections {
        model: &["arch", "transformer", "lstm"],
        inputs: &["task", "seq_len"],
        data: &["source", "recall"],
    };

    fn run(&self) -> &RunConfig {
        &self.run
    }

    fn validate(&self) -> Result<()> {
        self.check()
    }

    fn validate_folds(&self) -> Result<()> {
        ensure!(
            self.task == SequenceKind::Series,
            "--folds is rolling-origin evaluation of a series: it needs --task series"
        );
        self.check()
    }

    /// `series` (the source's key before) becomes `source`; a `seq_len` left
    /// unset (`null`: the task's default) is written as the length in force.
    fn upgrade(json: &mut serde_json::Value) {
        crate::data::source::upgrade_flattened_source(json);
        if json.get("seq_len").is_some_and(serde_json::Value::is_null) {
            if let Ok(cfg) = serde_json::from_value::<Config>(json.clone()) {
                json["seq_len"] = cfg.seq_len().into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_flag() {
        let mut cfg = Config::for_task(SequenceKind::Recall);
        cfg.seq_len = Some(32);
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--seq-len 32 must exceed --delay 32"));
        cfg.seq_len = None;
        cfg.transformer.heads = 5;
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--heads 5 must divide"));
        assert!(Config::default().transformer.causal);
        assert!(!Config::for_task(SequenceKind::Recall).transformer.causal);
    }
}
