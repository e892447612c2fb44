//! End-to-end runs behind the examples: data preparation, model, training,
//! evaluation and the report, configured by a serde struct and driven by
//! [`RunOptions`]. The examples only turn flags into these.

pub mod mnist;
pub mod sequence;
pub mod series;

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

/// Applies `--load`/`--resume`, then `--init-from`/`--freeze`/`--reset`/
/// `--lr-backbone` to `vs`, printing what was loaded; returns the fine-tuning
/// report (with the optimizer's learning-rate groups) and the training state
/// to start from (epoch 1 unless resuming).
pub fn prepare_weights(
    vs: &mut tch::nn::VarStore,
    opts: &RunOptions,
    finetune: &crate::finetune::FinetuneConfig,
    optim: &crate::optim::OptimConfig,
    progress: crate::train::Progress,
) -> anyhow::Result<(crate::finetune::FinetuneReport, crate::train::TrainState)> {
    let load = opts.resume.as_deref().or(opts.load.as_deref());
    let report = crate::finetune::prepare(vs, finetune, optim.lr, load, opts.resume.is_some())?;
    if let Some(path) = load {
        progress.line(format!("loaded {}", path.display()));
    }
    if finetune.is_active() {
        for line in report.lines() {
            progress.line(line);
        }
    }
    Ok((report, resume_state(opts, optim, progress)?))
}

/// Builds the optimizer of `vs` (with the fine-tuning groups' learning rates)
/// and the trainer: checkpoints per `opts`, `tune`'s learning-rate schedule,
/// and its early stopping on `early_metric` (a name the epoch callback
/// reports; smaller is better).
#[allow(clippy::too_many_arguments)]
pub fn optimizer_and_trainer<'a>(
    vs: &'a tch::nn::VarStore,
    optim: &crate::optim::OptimConfig,
    ft: &crate::finetune::FinetuneReport,
    loop_cfg: &'a crate::train::LoopConfig,
    tune: &TuneConfig,
    early_metric: &str,
    loss: crate::train::Loss,
    device: tch::Device,
    progress: crate::train::Progress,
    checkpointing: Option<crate::train::Checkpointing<'a>>,
) -> anyhow::Result<(tch::nn::Optimizer, crate::train::Trainer<'a>)> {
    use crate::schedule::{EarlyStopping, Goal, LrSchedule};
    let mut opt = optim.build(vs)?;
    crate::finetune::set_group_lrs(&mut opt, &ft.lr_groups);
    let groups = if tune.lr_schedule == LrSchedule::Constant {
        Vec::new()
    } else {
        ft.lr_groups.clone()
    };
    let early = tune.early_stopping.map(|patience| EarlyStopping {
        patience,
        metric: early_metric.to_string(),
        goal: Goal::Minimize,
    });
    let trainer = crate::train::Trainer::new(loop_cfg, loss, device, progress)
        .with_checkpointing(checkpointing)
        .with_lr_schedule(tune.lr_schedule, groups)
        .with_early_stopping(early, vs);
    Ok((opt, trainer))
}

/// The training state of `--resume`'s checkpoint (`train_state.json`), or a
/// fresh one; says what is resumed and what is not (optimizer state).
pub fn resume_state(
    opts: &RunOptions,
    optim: &crate::optim::OptimConfig,
    progress: crate::train::Progress,
) -> anyhow::Result<crate::train::TrainState> {
    use crate::train::TrainState;
    let Some(path) = &opts.resume else {
        return Ok(TrainState::default());
    };
    let state = TrainState::read(path)?;
    progress.line(format!(
        "resuming after {} epochs and {} steps (configuration from {})",
        state.epochs_done,
        state.steps_done,
        crate::checkpoint::config_path(path).display()
    ));
    if optim.momentum > 0.0 || optim.optimizer == crate::optim::OptimizerKind::Adam {
        progress.line(
            "note: momentum buffers / Adam moments are not checkpointed; they restart from zero",
        );
    }
    Ok(state)
}

/// The checkpointing of a training run: to `opts.checkpoint_path(example)`,
/// every `--checkpoint-every` epochs and on Ctrl-C, with `cfg` as `config.json`.
pub fn checkpointing<'a>(
    vs: &'a tch::nn::VarStore,
    opts: &RunOptions,
    example: &str,
    cfg: &impl serde::Serialize,
) -> anyhow::Result<crate::train::Checkpointing<'a>> {
    use anyhow::Context;
    Ok(crate::train::Checkpointing {
        vs,
        path: opts.checkpoint_path(example),
        every: opts.checkpoint_every.unwrap_or(0),
        config: serde_json::to_value(cfg).context("cannot serialise the configuration")?,
    })
}

/// Saves the final weights, `config.json` and a finished `train_state.json`
/// to `--save` (or over the `--resume` checkpoint).
pub fn save_final(
    vs: &tch::nn::VarStore,
    opts: &RunOptions,
    cfg: &impl serde::Serialize,
    history: &[crate::train::EpochRecord],
    progress: crate::train::Progress,
) -> anyhow::Result<()> {
    use crate::checkpoint;
    use crate::train::TrainState;
    let Some(path) = opts.save.as_ref().or(opts.resume.as_ref()) else {
        return Ok(());
    };
    checkpoint::save_with_config(vs, path, cfg)?;
    let done = TrainState {
        epochs_done: history.len(),
        history: history.to_vec(),
        ..TrainState::default()
    };
    checkpoint::write_json(&TrainState::path(path), &done)?;
    progress.line(format!(
        "saved {} and {}",
        path.display(),
        checkpoint::config_path(path).display()
    ));
    Ok(())
}

/// Number of scalar parameters of a VarStore.
pub fn parameter_count(vs: &tch::nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
