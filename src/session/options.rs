//! What a run does besides training (devices, checkpoints, reports) and the
//! fine-tuning / schedule / early-stopping settings every example shares.

use std::path::PathBuf;

use crate::device::DeviceChoice;

/// Fine-tuning, learning-rate schedule and early stopping of a run (the
/// `TuneArgs` flags), written to `config.json` with the rest.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TuneConfig {
    /// `--init-from`, `--freeze`, `--reset`, `--lr-backbone`.
    pub finetune: crate::finetune::FinetuneConfig,
    /// `--lr-schedule`.
    pub lr_schedule: crate::schedule::LrSchedule,
    /// `--warmup-steps N`: the rate rises linearly from 0 over the first N
    /// optimizer steps, times the schedule's ([`crate::schedule::warmed_lr`]); 0: none.
    pub warmup_steps: usize,
    /// `--early-stopping PATIENCE` on the validation metric (loss for the
    /// CNN, RMSE for the series), keeping the best epoch's weights.
    pub early_stopping: Option<usize>,
}

impl TuneConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.finetune.validate()?;
        self.lr_schedule.validate()?;
        anyhow::ensure!(
            self.early_stopping != Some(0),
            "--early-stopping needs a patience of at least 1 epoch"
        );
        Ok(())
    }
}

/// What a run does besides training, common to every example.
#[derive(Debug, Clone)]
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
    /// Cross-validate with this many folds instead of one training run
    /// (`--folds`; cnn_mnist's old `--kfold` is the same flag).
    pub folds: Option<usize>,
    /// Steps between read-backs of the running loss on a GPU (`--log-every`);
    /// the CPU reads every step.
    pub log_every: usize,
    /// The flags given explicitly on the command line (`--normalize`, ...):
    /// those may not contradict a loaded checkpoint's `config.json`.
    pub explicit: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            device: DeviceChoice::default(),
            save: None,
            load: None,
            resume: None,
            checkpoint_every: None,
            eval_only: false,
            metrics_json: None,
            quiet: false,
            folds: None,
            log_every: crate::train::DEFAULT_LOG_EVERY,
            explicit: Vec::new(),
        }
    }
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
    /// `cfg` for a fresh run. A resumed run uses its saved configuration; a
    /// PyTorch training checkpoint carries none, so `cfg` (the flags) is used.
    ///
    /// # Errors
    /// A checkpoint with neither `config.json` nor the entries of a PyTorch
    /// training checkpoint; a PyTorch one without `--save` (the Rust run's
    /// checkpoints never go over the PyTorch file).
    pub fn resolve_config<C: serde::de::DeserializeOwned + Clone>(
        &self,
        cfg: &C,
    ) -> anyhow::Result<C> {
        use crate::checkpoint;
        let Some(path) = &self.resume else {
            return Ok(cfg.clone());
        };
        if let Some(saved) = checkpoint::read_config(path)? {
            return Ok(saved);
        }
        let config = checkpoint::config_path(path);
        if !checkpoint::is_torch_file(path)? {
            anyhow::bail!(
                "cannot resume from {}: {} is missing (a resumable checkpoint has its config.json beside it)",
                path.display(),
                config.display()
            );
        }
        checkpoint::read_training_state(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot resume from {}: no {} beside it, and as a PyTorch training checkpoint: {e:#}",
                path.display(),
                config.display()
            )
        })?;
        if self.save.is_none() {
            anyhow::bail!(
                "--resume {} is a PyTorch training checkpoint: add --save PATH for this run's \
                 checkpoints (they are safetensors and never overwrite the PyTorch file)",
                path.display()
            );
        }
        Ok(cfg.clone())
    }
}
