//! The weights of a run: what a checkpoint's `config.json` must agree with,
//! `--load`/`--resume`/`--init-from` before training, the optimizer and
//! trainer built around them, checkpoints during training and the final save.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::nn;

use super::{RunOptions, TaskConfig};
use crate::checkpoint;
use crate::finetune::FinetuneReport;
use crate::schedule::{EarlyStopping, Goal, LrSchedule};
use crate::train::{Checkpointing, EpochRecord, Progress, TrainState, Trainer};

/// Applies `--load`/`--resume`, then `--init-from`/`--freeze`/`--reset`/
/// `--lr-backbone` to `vs`, printing what was loaded; returns the fine-tuning
/// report (with the optimizer's learning-rate groups) and the training state
/// to start from (epoch 1 unless resuming).
pub fn prepare_weights<C: TaskConfig>(
    vs: &mut nn::VarStore,
    opts: &RunOptions,
    cfg: &C,
    progress: Progress,
) -> Result<(FinetuneReport, TrainState)> {
    let load = opts.resume.as_deref().or(opts.load.as_deref());
    let finetune = &cfg.run().tune.finetune;
    let report = crate::finetune::prepare(
        vs,
        finetune,
        cfg.run().optim.lr,
        load,
        opts.resume.is_some(),
    )?;
    for note in &report.notes {
        // --resume reads a training checkpoint's epoch and optimizer state too.
        match opts.resume {
            Some(_) => progress.line(note.replace("; ignored: ", "; besides the weights: ")),
            None => progress.line(note),
        }
    }
    if let Some(path) = load {
        progress.line(format!("loaded {}", path.display()));
    }
    if finetune.is_active() {
        for line in report.lines() {
            progress.line(line);
        }
    }
    Ok((report, resume_state(opts, progress)?))
}

/// The training state of `--resume`'s checkpoint (`train_state.json`), or a
/// fresh one, saying what is resumed (the optimizer's state follows in
/// [`resume_optimizer`]).
fn resume_state(opts: &RunOptions, progress: Progress) -> Result<TrainState> {
    let Some(path) = &opts.resume else {
        return Ok(TrainState::default());
    };
    if let Some(torch) = checkpoint::torch_training_checkpoint(path)? {
        return torch_state(path, torch.epoch, progress);
    }
    let state = TrainState::read(path)?;
    progress.line(format!(
        "resuming after {} epochs and {} steps (configuration from {})",
        state.epochs_done,
        state.steps_done,
        checkpoint::config_path(path).display()
    ));
    Ok(state)
}

/// Where a PyTorch training checkpoint's run stands: its `epoch` read as the
/// number of finished epochs, the convention of pytorch/examples (`'epoch':
/// epoch + 1` saved, `start_epoch = checkpoint['epoch']` resumed), so the run
/// continues with epoch `epoch + 1` (1-based) and its batch order.
///
/// # Errors
/// A negative `epoch`.
fn torch_state(path: &Path, epoch: i64, progress: Progress) -> Result<TrainState> {
    let Ok(epochs_done) = usize::try_from(epoch) else {
        bail!(
            "PyTorch checkpoint {}: `epoch` is {epoch}, not a count of finished epochs",
            path.display()
        );
    };
    progress.line(format!(
        "resuming the PyTorch training checkpoint {}: its `epoch` {epoch} read as {epochs_done} finished \
         epochs (pytorch/examples' start_epoch = checkpoint['epoch']); the settings come from the flags",
        path.display()
    ));
    Ok(TrainState {
        epochs_done,
        ..TrainState::default()
    })
}

/// `--resume`: loads the optimizer state saved beside the checkpoint (or, for
/// a PyTorch training checkpoint, its `optimizer_state_dict`) into `opt`
/// (moments, momentum buffers, step counts), so the run continues on the
/// uninterrupted trajectory. A checkpoint without optimizer files (older
/// versions wrote none) resumes with a one-line note: the state starts fresh.
///
/// # Errors
/// Those of [`crate::train::load_optimizer`]: unreadable files, or a state of
/// another optimizer / hyperparameters / parameter shapes (naming both).
pub fn resume_optimizer(
    opt: &mut crate::optim::Optimizer,
    opts: &RunOptions,
    (state, steps_per_epoch): (TrainState, usize),
    progress: Progress,
) -> Result<TrainState> {
    let Some(path) = &opts.resume else {
        return Ok(state);
    };
    if let Some(torch) = checkpoint::torch_training_checkpoint(path)? {
        let saved = crate::optim::OptimizerState {
            tensors: torch.tensors,
            param_groups: torch.param_groups,
        };
        opt.load_state_dict(&saved).with_context(|| {
            format!(
                "cannot continue the PyTorch run of {} (its `{}`)",
                path.display(),
                torch.optimizer_key
            )
        })?;
        progress.line(format!(
            "optimizer state ({}) from `{}` of {}",
            opt.config().optimizer.torch_name(),
            torch.optimizer_key,
            path.display()
        ));
        return Ok(epochs_by_step_count(state, opt, steps_per_epoch, progress));
    } else if crate::train::load_optimizer(path, opt)? {
        let (st, _) = checkpoint::optimizer_paths(path);
        progress.line(format!(
            "optimizer state ({}) from {}",
            opt.config().optimizer.torch_name(),
            st.display()
        ));
    } else {
        progress.line(format!(
            "note: {} has no optimizer state beside it (optimizer.safetensors); the optimizer state starts fresh",
            path.display()
        ));
    }
    Ok(state)
}

/// A PyTorch checkpoint's `epoch` checked against its optimizer's step count
/// (Adam/AdamW keep one; SGD does not): when the count is a whole number of
/// epochs of `steps_per_epoch` steps other than `epoch`, the file counted
/// epochs otherwise (e.g. `torch.save({'epoch': epoch})` inside `for epoch in
/// range(n)`), and the run continues after the epochs the count says; when
/// it is not whole, `epoch` stands. Either way one line says so.
fn epochs_by_step_count(
    mut state: TrainState,
    opt: &crate::optim::Optimizer,
    steps_per_epoch: usize,
    progress: Progress,
) -> TrainState {
    let step = opt
        .state_dict()
        .tensors
        .iter()
        .find(|(name, _)| name == "state.0.step")
        .map(|(_, t)| t.double_value(&[]));
    let (Some(step), true) = (step, steps_per_epoch > 0) else {
        return state;
    };
    let steps = step.round().max(0.0) as usize;
    if steps == state.epochs_done * steps_per_epoch {
        return state;
    }
    if steps.is_multiple_of(steps_per_epoch) {
        progress.line(format!(
            "note: the optimizer's step count {steps} is {} epochs of {steps_per_epoch} steps, not the \
             {} that `epoch` says: continuing after {} epochs (the file counts epochs otherwise)",
            steps / steps_per_epoch,
            state.epochs_done,
            steps / steps_per_epoch
        ));
        state.epochs_done = steps / steps_per_epoch;
    } else {
        progress.line(format!(
            "note: the optimizer's step count {steps} is not a whole number of epochs of \
             {steps_per_epoch} steps (other data or batch size?); continuing after `epoch` = {} epochs",
            state.epochs_done
        ));
    }
    state
}

/// What the trainer of a run is built from.
pub struct TrainerParts<'a, C> {
    /// The run's configuration (optimizer, loop, tuning).
    pub cfg: &'a C,
    /// The variables trained.
    pub vs: &'a nn::VarStore,
    /// The fine-tuning groups and their learning rates.
    pub finetune: &'a FinetuneReport,
    /// The validation metric early stopping watches (smaller is better).
    pub early_metric: &'static str,
    /// Where batches go.
    pub device: tch::Device,
    /// Bars and lines.
    pub progress: Progress,
    /// Periodic and Ctrl-C checkpoints.
    pub checkpointing: Option<Checkpointing<'a>>,
    /// Steps between read-backs of the running loss on a GPU (`--log-every`).
    pub log_every: usize,
}

/// Builds the optimizer of `vs` (with the fine-tuning groups' learning rates)
/// and the trainer: checkpoints, the learning-rate schedule and early stopping.
pub fn optimizer_and_trainer<'a, C: TaskConfig>(
    parts: TrainerParts<'a, C>,
) -> Result<(crate::optim::Optimizer, Trainer<'a>)> {
    let (cfg, ft) = (parts.cfg, parts.finetune);
    let mut opt = cfg.run().optim.build(parts.vs)?;
    crate::finetune::set_group_lrs(&mut opt, &ft.lr_groups);
    let tune = &cfg.run().tune;
    let groups = if tune.lr_schedule.schedule() == LrSchedule::Constant && tune.warmup_steps == 0 {
        Vec::new()
    } else {
        ft.lr_groups.clone()
    };
    let early = tune.early_stopping.map(|patience| EarlyStopping {
        patience,
        metric: parts.early_metric.to_string(),
        goal: Goal::Minimize,
    });
    let trainer = Trainer::new(&cfg.run().train, parts.device, parts.progress)
        .with_checkpointing(parts.checkpointing)
        .with_lr_schedule(tune.lr_schedule.schedule(), groups)
        .with_warmup(tune.warmup_steps)
        .with_early_stopping(early, parts.vs)
        .with_log_every(parts.log_every, parts.vs);
    Ok((opt, trainer))
}

/// The checkpointing of a training run: to `opts.checkpoint_path(example)`,
/// every `--checkpoint-every` epochs and on Ctrl-C, with `cfg` as `config.json`.
pub fn checkpointing<'a>(
    vs: &'a nn::VarStore,
    opts: &RunOptions,
    example: &str,
    cfg: &impl serde::Serialize,
) -> Result<Checkpointing<'a>> {
    Ok(Checkpointing {
        vs,
        path: opts.checkpoint_path(example),
        every: opts.checkpoint_every.unwrap_or(0),
        config: serde_json::to_value(cfg).context("cannot serialise the configuration")?,
    })
}

/// Saves the final weights, the optimizer's state (when the run trained),
/// `config.json` and a finished `train_state.json` to `--save` (or over the
/// `--resume` checkpoint).
pub fn save_final(
    (vs, opt): (&nn::VarStore, Option<&crate::optim::Optimizer>),
    opts: &RunOptions,
    cfg: &impl serde::Serialize,
    history: &[EpochRecord],
    progress: Progress,
) -> Result<()> {
    let Some(path) = opts.save.as_ref().or(opts.resume.as_ref()) else {
        return Ok(());
    };
    checkpoint::save_with_config(vs, path, cfg)?;
    if let Some(opt) = opt {
        crate::train::save_optimizer(path, opt)?;
    }
    let done = TrainState {
        epochs_done: history.len(),
        history: history.to_vec(),
        ..TrainState::default()
    };
    crate::io::write_json(&TrainState::path(path), &done)?;
    progress.line(format!(
        "saved {} and {}",
        path.display(),
        checkpoint::config_path(path).display()
    ));
    Ok(())
}

/// Number of scalar parameters of a VarStore.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
