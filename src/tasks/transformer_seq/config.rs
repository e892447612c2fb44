//! The configuration of a transformer_seq run (`config.json`) and its checks.

use anyhow::{ensure, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::data::sequence::{RecallConfig, WINDOW};
use crate::data::source::SeriesSource;
use crate::models::seq_model::Arch;
use crate::models::{SeqLstmConfig, TransformerConfig};
use crate::optim::OptimConfig;
use crate::session::{TaskConfig, TuneConfig};
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
    pub fn default_seq_len(self, recall: &RecallConfig) -> usize {
        match self {
            SequenceKind::Series => 32,
            SequenceKind::Recall => 2 * recall.delay,
        }
    }

    /// Whether the transformer uses the causal mask unless told otherwise. On for
    /// `series`: there the input of step t+1 holds the target of step t, so an
    /// unmasked encoder reads the answer from the next step. Off for `recall`,
    /// whose targets are past inputs only.
    pub fn default_causal(self) -> bool {
        self == SequenceKind::Series
    }
}

/// Everything that determines a transformer_seq run; written as `config.json`
/// beside a saved checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceConfig {
    /// Model.
    pub arch: Arch,
    /// Data.
    pub task: SequenceKind,
    /// Steps per sequence; `None`: the task's default.
    pub seq_len: Option<usize>,
    /// Options of `--arch transformer`.
    pub transformer: TransformerConfig,
    /// Options of `--arch lstm`.
    pub lstm: SeqLstmConfig,
    /// Optimizer (the tutorial's SGD, lr 0.01).
    pub optim: OptimConfig,
    /// Epochs (the tutorial's 100), batch size, seed.
    pub train: LoopConfig,
    /// Options of `--task series`.
    pub series: SeriesSource,
    /// Options of `--task recall`.
    pub recall: RecallConfig,
    /// Fine-tuning, learning-rate schedule, early stopping.
    pub tune: TuneConfig,
    /// The time axis of the series trained on (column, layout, frequency),
    /// recorded in `config.json`; `None` without a time column or for `--task recall`.
    pub time_axis: Option<crate::data::series::TimeAxis>,
}

impl Default for SequenceConfig {
    /// The tutorial's values: MSE, SGD lr 0.01, 100 epochs; batch 16 where it is silent.
    fn default() -> Self {
        Self::for_task(SequenceKind::Series)
    }
}

impl SequenceConfig {
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
            lstm: SeqLstmConfig::default(),
            optim: OptimConfig::default(),
            train: LoopConfig {
                epochs: 100,
                batch_size: 16,
                ..LoopConfig::default()
            },
            series: SeriesSource::default(),
            recall: RecallConfig::default(),
            tune: TuneConfig::default(),
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
        self.optim.validate()?;
        self.train.validate()?;
        self.tune.validate()?;
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
pub fn model_summary(cfg: &SequenceConfig) -> String {
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

impl TaskConfig for SequenceConfig {
    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn train(&self) -> &LoopConfig {
        &self.train
    }

    fn tune(&self) -> &TuneConfig {
        &self.tune
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

    fn input_differences(&self, saved: &Self) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if saved.task != self.task {
            let name = |t: SequenceKind| format!("{t:?}").to_lowercase();
            out.push(("--task", name(self.task), name(saved.task)));
        }
        if saved.seq_len() != self.seq_len() {
            out.push((
                "--seq-len",
                self.seq_len().to_string(),
                saved.seq_len().to_string(),
            ));
        }
        out
    }

    fn adopt_inputs(&mut self, saved: &Self) {
        self.task = saved.task;
        self.seq_len = saved.seq_len;
    }

    fn model_flags(&self) -> &'static [&'static str] {
        &[
            "--arch",
            "--d-model",
            "--heads",
            "--layers",
            "--ff-dim",
            "--causal",
            "--no-causal",
            "--hidden",
        ]
    }

    fn adopt_model(&mut self, saved: &Self) {
        self.arch = saved.arch;
        self.transformer = saved.transformer.clone();
        self.lstm = saved.lstm.clone();
    }

    fn model_mismatch(&self, saved: &Self) -> Option<String> {
        let same = saved.arch == self.arch
            && match self.arch {
                Arch::Transformer => {
                    let (a, b) = (&saved.transformer, &self.transformer);
                    (a.d_model, a.heads, a.layers, a.ff_dim, a.causal)
                        == (b.d_model, b.heads, b.layers, b.ff_dim, b.causal)
                }
                Arch::Lstm => saved.lstm == self.lstm,
            };
        (!same).then(|| {
            format!(
                "for --arch {:?} with {}, but this run uses --arch {:?} with {} \
                 (pass the same --arch, --d-model, --heads, --layers, --ff-dim and --causal)",
                saved.arch,
                model_summary(saved),
                self.arch,
                model_summary(self)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_flag() {
        let mut cfg = SequenceConfig::for_task(SequenceKind::Recall);
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
        assert!(SequenceConfig::default().transformer.causal);
        assert!(
            !SequenceConfig::for_task(SequenceKind::Recall)
                .transformer
                .causal
        );
    }
}
