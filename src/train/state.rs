//! Where a run stands (`train_state.json`) and how its checkpoints are
//! written, so that `--resume` continues exactly where it stopped.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::nn;

use super::EpochRecord;
use crate::checkpoint;
use crate::optim::{Optimizer, OptimizerState};

/// Where a run stands, written as `train_state.json` beside its checkpoints
/// so that `--resume` continues exactly where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Complete epochs.
    pub epochs_done: usize,
    /// Batches already done in the next epoch (after an interrupt).
    pub steps_done: usize,
    /// Sum of `loss × batch size` over those batches.
    pub partial_loss_sum: f64,
    /// Samples in those batches.
    pub partial_samples: f64,
    /// Records of the complete epochs.
    pub history: Vec<EpochRecord>,
    /// Early stopping: the best epoch so far (1-based).
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Early stopping: its metric.
    #[serde(default)]
    pub best_metric: Option<f64>,
    /// Early stopping: epochs since the best one.
    #[serde(default)]
    pub bad_epochs: usize,
}

impl TrainState {
    /// Where the state of checkpoint `path` lives.
    pub fn path(checkpoint: &Path) -> PathBuf {
        checkpoint.with_file_name("train_state.json")
    }

    /// Reads the state beside checkpoint `path`; a checkpoint without one
    /// (only weights) starts at epoch 1.
    pub fn read(checkpoint: &Path) -> Result<Self> {
        let path = Self::path(checkpoint);
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid training state", path.display()))
    }
}

/// Where and how often checkpoints are written during training.
#[derive(Debug, Clone)]
pub struct Checkpointing<'a> {
    /// The variables to save.
    pub vs: &'a nn::VarStore,
    /// The weights file (safetensors); `config.json` and `train_state.json` go beside it.
    pub path: PathBuf,
    /// Write every N complete epochs (0: only on Ctrl-C).
    pub every: usize,
    /// The run's configuration, written as `config.json`.
    pub config: serde_json::Value,
}

impl Checkpointing<'_> {
    /// Where the best weights of an early-stopped run are kept: `best.safetensors` beside.
    pub(crate) fn best_path(&self) -> PathBuf {
        self.path.with_file_name("best.safetensors")
    }

    /// Writes weights, the optimizer's state (`optimizer.safetensors` and
    /// `optimizer.json`, [`checkpoint::optimizer_paths`]), configuration and
    /// training state, each atomically, `train_state.json` last.
    ///
    /// # Errors
    /// An I/O error naming the file.
    pub fn write(&self, state: &TrainState, opt: &Optimizer) -> Result<()> {
        checkpoint::save(self.vs, &self.path)?;
        save_optimizer(&self.path, opt)?;
        crate::io::write_json(&checkpoint::config_path(&self.path), &self.config)?;
        crate::io::write_json(&TrainState::path(&self.path), state)
    }
}

/// Writes `opt`'s state (PyTorch's `optimizer.state_dict()` layout) beside
/// checkpoint `path`, atomically.
///
/// # Errors
/// An I/O error naming the file.
pub fn save_optimizer(path: &Path, opt: &Optimizer) -> Result<()> {
    let s = opt.state_dict();
    checkpoint::save_optimizer_state(path, &s.tensors, &s.param_groups)
}

/// Loads the optimizer state written beside checkpoint `path` into `opt`
/// (moments, momentum buffers, step counts, the groups' learning rates).
/// Returns `false` when the checkpoint has no optimizer files (weights only,
/// or written before optimizer state was checkpointed): `opt` starts fresh.
///
/// # Errors
/// One of the two files missing or unreadable; a state that does not fit
/// `opt` (another optimizer, hyperparameter, parameter count or shape), the
/// message naming the file's value, this run's and the flag.
pub fn load_optimizer(path: &Path, opt: &mut Optimizer) -> Result<bool> {
    let Some((tensors, param_groups)) = checkpoint::read_optimizer_state(path)? else {
        return Ok(false);
    };
    let (st, json) = checkpoint::optimizer_paths(path);
    opt.load_state_dict(&OptimizerState {
        tensors,
        param_groups,
    })
    .with_context(|| {
        format!(
            "cannot resume the optimizer from {} and {}",
            json.display(),
            st.display()
        )
    })?;
    Ok(true)
}
