//! The report of a run: the fields every example reports ([`RunSummary`]),
//! with the same JSON keys in all three `--metrics-json` files, and the
//! example's own results beside them.

use serde::Serialize;
use tch::{nn, Device};

use super::parameter_count;
use crate::finetune::FinetuneReport;
use crate::train::{EpochRecord, FitOutcome};

/// What every run reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Device name (`cpu`, `cuda:0`).
    pub device: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// Seconds spent reading and preparing the data.
    pub data_seconds: f64,
    /// One record per epoch (those of a resumed checkpoint included; empty
    /// for `--eval-only`).
    pub epochs: Vec<EpochRecord>,
    /// With `--early-stopping`: the epoch whose weights were kept.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training before `--epochs`.
    pub stopped_early: bool,
    /// Mean training seconds per epoch (evaluation excluded).
    pub seconds_per_epoch: f64,
    /// Mean training samples per second.
    pub samples_per_sec: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mb: f64,
    /// Mean test loss, in the model's units (cross-entropy, or MSE on scaled values).
    pub test_loss: f64,
    /// What `--init-from`/`--freeze`/`--reset`/`--lr-backbone` did.
    pub finetune: Option<FinetuneReport>,
}

impl RunSummary {
    /// The summary of a run that trained `outcome` in `vs`.
    pub fn new(
        vs: &nn::VarStore,
        device: Device,
        data_seconds: f64,
        outcome: FitOutcome,
        test_loss: f64,
    ) -> Self {
        let n = outcome.history.len().max(1) as f64;
        let epochs = outcome.history;
        Self {
            device: crate::device::name(device),
            parameters: parameter_count(vs),
            data_seconds,
            seconds_per_epoch: epochs.iter().map(|e| e.train_seconds).sum::<f64>() / n,
            samples_per_sec: epochs.iter().map(|e| e.samples_per_sec).sum::<f64>() / n,
            epochs,
            best_epoch: outcome.best_epoch,
            stopped_early: outcome.stopped_early,
            peak_rss_mb: crate::metrics::peak_rss_mb(),
            test_loss,
            finetune: None,
        }
    }

    /// Adds the fine-tuning report.
    pub(crate) fn with_finetune(mut self, finetune: Option<FinetuneReport>) -> Self {
        self.finetune = finetune;
        self
    }

    /// The speed line of the printed reports (nothing for `--eval-only`).
    pub(crate) fn speed_line(&self, unit: &str) -> Option<String> {
        (!self.epochs.is_empty()).then(|| {
            format!(
                "seconds / epoch   {:.3}   ({:.0} {unit}/s, {} epochs{})",
                self.seconds_per_epoch,
                self.samples_per_sec,
                self.epochs.len(),
                match (self.best_epoch, self.stopped_early) {
                    (Some(e), true) => format!("; stopped early, weights of epoch {e}"),
                    (Some(e), false) => format!("; weights of epoch {e}"),
                    (None, _) => String::new(),
                }
            )
        })
    }
}

/// The report of a run as printed and written to `--metrics-json`: the
/// configuration, the [`RunSummary`] and the example's results, one flat
/// JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport<C, R> {
    /// The configuration that produced it.
    pub config: C,
    /// What every run reports.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The example's own results.
    #[serde(flatten)]
    pub results: R,
}
