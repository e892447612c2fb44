//! End-to-end runs behind the examples: data preparation, model, training,
//! evaluation and the report, configured by a serde struct and driven by
//! [`RunOptions`]. The examples only turn flags into these.

pub mod mnist;
pub mod sequence;
pub mod series;

use std::path::PathBuf;

use crate::device::DeviceChoice;

/// What a run does besides training, common to every example.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Save the final weights here (safetensors, `config.json` beside).
    pub save: Option<PathBuf>,
    /// Start from these weights (safetensors).
    pub load: Option<PathBuf>,
    /// Continue the run checkpointed here (weights, `config.json` and
    /// `train_state.json` beside): same configuration, epochs and batch order.
    pub resume: Option<PathBuf>,
    /// Write a checkpoint every N epochs (to `save`, or the example's default path).
    pub checkpoint_every: Option<usize>,
    /// Only evaluate the loaded weights.
    pub eval_only: bool,
    /// Write the report as JSON here.
    pub metrics_json: Option<PathBuf>,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
}

impl RunOptions {
    /// Where periodic and Ctrl-C checkpoints go: `--save`, else the resumed
    /// checkpoint, else `runs/<example>/checkpoint.safetensors`.
    pub fn checkpoint_path(&self, example: &str) -> PathBuf {
        self.save
            .clone()
            .or_else(|| self.resume.clone())
            .unwrap_or_else(|| PathBuf::from(format!("runs/{example}/checkpoint.safetensors")))
    }

    /// Reads the configuration saved beside `--resume`'s checkpoint, or returns
    /// `cfg` for a fresh run. A resumed run uses its saved configuration.
    pub fn resolve_config<C: serde::de::DeserializeOwned + Clone>(
        &self,
        cfg: &C,
    ) -> anyhow::Result<C> {
        match &self.resume {
            None => Ok(cfg.clone()),
            Some(path) => crate::checkpoint::read_config(path)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot resume from {}: {} is missing (a resumable checkpoint has its config.json beside it)",
                    path.display(),
                    crate::checkpoint::config_path(path).display()
                )
            }),
        }
    }
}

/// Number of scalar parameters of a VarStore.
pub fn parameter_count(vs: &tch::nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
