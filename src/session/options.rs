//! What a run does besides training (devices, checkpoints, reports) and the
//! fine-tuning / schedule / early-stopping settings every example shares.

use std::path::PathBuf;

use crate::device::DeviceChoice;

/// Fine-tuning, learning-rate schedule and early stopping of a run, written
/// to `config.json` with the rest.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, clap::Args)]
#[serde(default)]
pub struct TuneConfig {
    /// `--init-from`, `--freeze`, `--reset`, `--lr-backbone`, `--strip-prefix`.
    #[command(flatten)]
    pub finetune: crate::finetune::FinetuneConfig,
    /// `--lr-schedule`, `--lr-step-size`, `--lr-gamma`, `--lr-min`.
    #[command(flatten)]
    pub lr_schedule: crate::schedule::ScheduleConfig,
    /// Warm-up: the learning rate rises linearly from 0 over the first N
    /// optimizer steps (step s trains at s/N of the schedule's rate), then
    /// follows --lr-schedule; PyTorch's LambdaLR stepped every step.
    #[arg(long, value_name = "N")]
    pub warmup_steps: usize,
    /// Stop when the validation metric (loss for cnn_mnist, RMSE for the series
    /// examples) has not improved for PATIENCE epochs, and keep the weights of
    /// the best epoch (cnn_mnist needs --val-fraction).
    #[arg(long, value_name = "PATIENCE")]
    pub early_stopping: Option<usize>,
}

impl TuneConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.finetune.validate()?;
        self.lr_schedule.schedule().validate()?;
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
    /// Write the model as a traced TorchScript module here (`--export-torchscript`):
    /// after training or `--eval-only`; with `--load` alone, instead of training.
    pub export_torchscript: Option<PathBuf>,
    /// `--quantize int8` (run the loaded model with int8 weights) and
    /// `--save-quantized PATH` (write them).
    pub quantize: crate::quantize::QuantizeOptions,
    /// The flags given on the command line (`--normalize`, `--cell`, ...):
    /// those may not contradict a loaded checkpoint's `config.json`; the
    /// settings whose flags were not given come from it.
    pub given: crate::cli::Flags,
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
            export_torchscript: None,
            quantize: Default::default(),
            given: crate::cli::Flags::default(),
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

    /// Whether the run only exports `--load`'s model (`--export-torchscript`
    /// or `--save-quantized` with `--load` and without `--eval-only`): no data
    /// is read, nothing trains.
    pub fn export_only(&self) -> bool {
        let export = self.export_torchscript.is_some() || self.quantize.save_quantized.is_some();
        export && self.load.is_some() && !self.eval_only
    }

    /// Whether the run trains a model (not `--eval-only`, not only exporting).
    pub fn trains(&self) -> bool {
        !self.eval_only && !self.export_only()
    }

    /// Refuses the int8 flags where they make no sense
    /// ([`crate::quantize::QuantizeOptions::check`]), in one line.
    pub fn check_quantize(&self) -> anyhow::Result<()> {
        if let (Some(_), Some(path)) = (self.folds, &self.quantize.save_quantized) {
            anyhow::bail!(
                "--save-quantized {} writes one model: leave out --folds",
                path.display()
            );
        }
        self.quantize.check(crate::quantize::RunShape {
            load: self.load.as_deref(),
            trains: self.trains() || self.resume.is_some(),
            save: self.save.as_deref(),
            export_torchscript: self.export_torchscript.is_some(),
        })
    }
}
