//! The training loop: epochs of mini-batch steps (PyTorch's `zero_grad`,
//! `backward`, `step`), the learning-rate schedule, early stopping,
//! checkpoints and Ctrl-C, each in a step of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use tch::{nn, Device, Tensor};

use super::early_stopping::EarlyStopper;
use super::step_loss::StepLoss;
use super::{
    interrupt_flag, Batch, Checkpointing, EpochEnd, EpochRecord, EpochStats, Interrupted,
    LoopConfig, Progress, Sampler, TrainState,
};
use crate::metrics::RunningMean;
use crate::optim::Optimizer;
use crate::schedule::{warmed_lr, EarlyStopping, LrSchedule};

/// The training loop with its settings: epochs, batch order, device,
/// progress, checkpoints, schedule, early stopping and the stop flag.
#[derive(Debug, Clone)]
pub struct Trainer<'a> {
    /// Epochs, batch size, seed, shuffling.
    pub cfg: &'a LoopConfig,
    /// Where batches go.
    pub device: Device,
    /// Bars and lines.
    pub progress: Progress,
    /// Periodic and Ctrl-C checkpoints (none: Ctrl-C stops without saving).
    pub checkpointing: Option<Checkpointing<'a>>,
    /// Polled after every step; Ctrl-C's flag by default.
    pub stop: Arc<AtomicBool>,
    /// Learning-rate schedule, applied at the start of every epoch to `lr_groups`.
    pub schedule: LrSchedule,
    /// `(optimizer group, base learning rate)`; empty: the loop never sets a rate.
    pub lr_groups: Vec<(usize, f64)>,
    /// `--warmup-steps`: linear warm-up over the first N optimizer steps of
    /// the run, the rate set before every step ([`crate::schedule::warmed_lr`]); 0: none.
    pub warmup_steps: usize,
    /// Stop on a validation metric, keeping the best weights of this VarStore.
    pub early_stopping: Option<(EarlyStopping, &'a nn::VarStore)>,
    /// Steps between read-backs of the running loss: 1 on the CPU (each
    /// step's loss is checked before its update), `--log-every` on a GPU.
    pub sync_every: usize,
    /// The variables restored after a non-finite loss found at a deferred
    /// read-back (`sync_every > 1`).
    pub rollback: Option<&'a nn::VarStore>,
    /// Steps whose gradients `--clip-grad-norm` rescaled, and steps taken, this run.
    pub clipped: std::cell::Cell<(usize, usize)>,
}

/// Steps between read-backs of the running loss on a GPU (`--log-every`).
pub const DEFAULT_LOG_EVERY: usize = 20;

/// What [`Trainer::fit`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOutcome {
    /// Every epoch's record.
    pub history: Vec<EpochRecord>,
    /// With early stopping: the epoch whose weights the model holds now.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended the run before `epochs`.
    pub stopped_early: bool,
}

impl FitOutcome {
    /// The outcome of a run that trained nothing (`--eval-only`): the history
    /// of the loaded state.
    pub(crate) fn untrained(state: &TrainState) -> Self {
        Self {
            history: state.history.clone(),
            best_epoch: None,
            stopped_early: false,
        }
    }
}

/// The optimizer, batches and loss of one [`Trainer::fit`] call.
pub struct FitData<'m> {
    /// The optimizer of the trained parameters.
    pub opt: &'m mut Optimizer,
    /// The training batches.
    pub sampler: &'m dyn Sampler,
    /// The mean training loss of a batch, in train mode (the forward pass included).
    pub loss: &'m dyn Fn(&Batch) -> Tensor,
}

impl<'a> Trainer<'a> {
    /// A trainer without checkpoints, stopped by Ctrl-C.
    pub fn new(cfg: &'a LoopConfig, device: Device, progress: Progress) -> Self {
        Self {
            cfg,
            device,
            progress,
            checkpointing: None,
            stop: interrupt_flag(),
            schedule: LrSchedule::Constant,
            lr_groups: Vec::new(),
            warmup_steps: 0,
            early_stopping: None,
            sync_every: 1,
            rollback: None,
            clipped: std::cell::Cell::new((0, 0)),
        }
    }

    /// Reads the running loss back every `log_every` steps on a GPU, keeping
    /// `vs`'s weights at each read-back to restore after a non-finite loss.
    /// The CPU keeps reading (and checking) every step: it costs nothing there.
    pub(crate) fn with_log_every(mut self, log_every: usize, vs: &'a nn::VarStore) -> Self {
        if self.device != Device::Cpu {
            self.sync_every = log_every.max(1);
        }
        self.rollback = Some(vs);
        self
    }

    /// Sets the learning rate of each `(group, base rate)` every epoch as
    /// `schedule` says (PyTorch's `scheduler.step()` after each epoch). The
    /// rate depends only on the epoch number, so `--resume` gets it right.
    pub fn with_lr_schedule(mut self, schedule: LrSchedule, lr_groups: Vec<(usize, f64)>) -> Self {
        self.schedule = schedule;
        self.lr_groups = lr_groups;
        self
    }

    /// Warms the rates of the schedule's groups up linearly over the first
    /// `steps` optimizer steps (counted over the whole run, so a resumed run
    /// gets the same rates).
    pub fn with_warmup(mut self, steps: usize) -> Self {
        self.warmup_steps = steps;
        self
    }

    /// Stops when `es.metric` (from `after_epoch`) has not improved for
    /// `es.patience` epochs, and leaves the best epoch's weights in `vs`.
    pub fn with_early_stopping(mut self, es: Option<EarlyStopping>, vs: &'a nn::VarStore) -> Self {
        self.early_stopping = es.map(|e| (e, vs));
        self
    }

    /// Adds checkpointing.
    pub fn with_checkpointing(mut self, checkpointing: Option<Checkpointing<'a>>) -> Self {
        self.checkpointing = checkpointing;
        self
    }

    /// Trains on `sampler`'s batches, `loss` giving each batch's mean loss
    /// (the model's forward pass in train mode included), from `state` up to `cfg.epochs` epochs,
    /// calling `after_epoch` after each epoch for the metrics to print and
    /// record. The history holds every epoch, those of the state included. A
    /// resumed run visits exactly the batches the uninterrupted run would have
    /// (same seeded order, the done ones skipped).
    pub fn fit(
        &self,
        opt: &mut Optimizer,
        sampler: &dyn Sampler,
        loss: impl Fn(&Batch) -> Tensor,
        mut state: TrainState,
        mut after_epoch: impl FnMut(usize, &EpochStats) -> Result<Vec<(String, f64)>>,
    ) -> Result<FitOutcome> {
        self.cfg.validate()?;
        self.schedule.validate()?;
        let mut data = FitData {
            opt,
            sampler,
            loss: &loss,
        };
        let mut stopper = match &self.early_stopping {
            Some((es, vs)) => Some(EarlyStopper::new(
                es,
                vs,
                self.checkpointing.as_ref(),
                &state,
            )?),
            None => None,
        };
        let mut stopped_early = false;
        while state.epochs_done < self.cfg.epochs {
            let epoch = state.epochs_done + 1;
            let stats = match self.train_epoch(&mut data, &state)? {
                EpochEnd::Complete(stats) => stats,
                EpochEnd::Stopped { steps, stats } => {
                    state.steps_done += steps;
                    state.partial_loss_sum = stats.loss * stats.samples as f64;
                    state.partial_samples = stats.samples as f64;
                    return Err(self.interrupted(&state, epoch, data.opt)?);
                }
            };
            let metrics = self.epoch_metrics(after_epoch(epoch, &stats)?, epoch);
            let stop_now = match &mut stopper {
                Some(s) => s.observe(&metrics, epoch, &mut state)?,
                None => false,
            };
            self.finish_epoch(&mut state, (epoch, stats, metrics), data.opt)?;
            if stop_now && epoch < self.cfg.epochs {
                stopped_early = true;
                if let Some(s) = &stopper {
                    self.progress.line(s.stop_line(&state));
                }
                break;
            }
            if self.stop.load(Ordering::SeqCst) && epoch < self.cfg.epochs {
                return Err(self.interrupted(&state, epoch + 1, data.opt)?);
            }
        }
        let (clipped, steps) = self.clipped.get();
        if steps > 0 {
            self.progress.line(format!(
                "gradient clipping (--clip-grad-norm): {clipped} of {steps} steps clipped"
            ));
        }
        if let Some(s) = &stopper {
            if let Some(line) = s.restore_best(&state) {
                self.progress.line(line);
            }
        }
        Ok(FitOutcome {
            best_epoch: state.best_epoch.filter(|_| stopper.is_some()),
            stopped_early,
            history: state.history,
        })
    }

    /// The epoch's metrics from `after_epoch`, plus the learning rate of the
    /// first group when a schedule moves it.
    fn epoch_metrics(&self, mut metrics: Vec<(String, f64)>, epoch: usize) -> Vec<(String, f64)> {
        if self.schedule != LrSchedule::Constant {
            if let Some(&(group, base)) = self.lr_groups.first() {
                let name = if self.lr_groups.len() > 1 {
                    format!("lr{group}")
                } else {
                    "lr".to_string()
                };
                metrics.push((name, self.schedule.lr_at(base, epoch - 1)));
            }
        }
        metrics
    }

    /// Prints and records a complete epoch (its number, statistics and
    /// metrics), advances the state and writes the periodic checkpoint (with
    /// `opt`'s state) when one is due.
    fn finish_epoch(
        &self,
        state: &mut TrainState,
        (epoch, stats, metrics): (usize, EpochStats, Vec<(String, f64)>),
        opt: &Optimizer,
    ) -> Result<()> {
        let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        self.progress.line(format!(
            "epoch {epoch:>3}/{}  train loss {:.4}  {}  {:.1} s  {:.0} samples/s",
            self.cfg.epochs,
            stats.loss,
            shown.join("  "),
            stats.seconds,
            stats.samples_per_sec()
        ));
        state.history.push(EpochRecord {
            epoch,
            train_loss: stats.loss,
            train_seconds: stats.seconds,
            samples_per_sec: stats.samples_per_sec(),
            metrics,
        });
        state.epochs_done = epoch;
        state.steps_done = 0;
        state.partial_loss_sum = 0.0;
        state.partial_samples = 0.0;
        match &self.checkpointing {
            Some(c)
                if c.every > 0 && (epoch.is_multiple_of(c.every) || epoch == self.cfg.epochs) =>
            {
                c.write(state, opt)
            }
            _ => Ok(()),
        }
    }

    /// One pass of mini-batch training over epoch `state.epochs_done + 1`:
    /// forward in train mode, loss, `zero_grad`, `backward`, `step`, as the
    /// tutorial's loop does, skipping the `state.steps_done` batches an
    /// interrupted run already did. libtorch's generator is seeded before each
    /// step from the run's seed, the epoch and the step
    /// ([`LoopConfig::step_seed`]), so dropout draws the same masks resumed or not.
    ///
    /// With `sync_every == 1` (the CPU) the loss is checked before the
    /// update: when it is NaN or infinite the epoch stops with an error naming
    /// the epoch and step, and the weights are left as they were after the
    /// last good step. Otherwise the loss is read back every `sync_every`
    /// steps ([`StepLoss`]). The stop flag is polled after each step.
    pub(crate) fn train_epoch(
        &self,
        data: &mut FitData<'_>,
        state: &TrainState,
    ) -> Result<EpochEnd> {
        let epoch = state.epochs_done + 1;
        let epoch_lrs: Vec<(usize, f64, f64)> = self
            .lr_groups
            .iter()
            .map(|&(group, base)| (group, base, self.schedule.lr_at(base, epoch - 1)))
            .collect();
        for &(group, _, lr) in &epoch_lrs {
            data.opt.set_lr(group, lr);
        }
        let total = data.sampler.num_batches();
        let bar = self
            .progress
            .epoch_bar(epoch, self.cfg.epochs, total as u64);
        bar.set_position(state.steps_done as u64);
        let mut mean = RunningMean::new();
        mean.add(
            if state.partial_samples > 0.0 {
                state.partial_loss_sum / state.partial_samples
            } else {
                0.0
            },
            state.partial_samples,
        );
        let (start, seen_before) = (Instant::now(), mean.weight());
        let mut losses = StepLoss::new(self.sync_every, mean, state.steps_done, self.rollback);
        let stats = |mean: &RunningMean| EpochStats {
            loss: mean.mean(),
            samples: mean.weight() as i64,
            seconds: start.elapsed().as_secs_f64(),
        };
        let batches = data.sampler.epoch(epoch - 1, state.steps_done);
        for (done, batch) in batches.enumerate() {
            let step = state.steps_done + done + 1;
            let (count, last) = (batch.len() as f64, step == total);
            tch::manual_seed(self.cfg.step_seed(epoch - 1, step - 1));
            if self.warmup_steps > 0 {
                let global = (epoch - 1) * total + step - 1;
                for &(group, base, lr) in &epoch_lrs {
                    data.opt
                        .set_lr(group, warmed_lr(base, lr, global, self.warmup_steps));
                }
            }
            let loss = (data.loss)(&batch);
            if losses.checks_every_step() {
                losses
                    .check_now(&loss, count, epoch, step)
                    .inspect_err(|_| bar.abandon())?;
            }
            data.opt.zero_grad();
            loss.backward();
            self.clip(data.opt);
            data.opt.step();
            let stop = self.stop.load(Ordering::SeqCst);
            if !losses.checks_every_step() {
                losses
                    .defer(&loss, count, epoch, step, last || stop)
                    .inspect_err(|_| bar.abandon())?;
            }
            bar.inc(1);
            if step == total || step.is_multiple_of(losses.sync_every) {
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "loss {:.4} | {:.0} samples/s",
                    losses.mean.mean(),
                    (losses.mean.weight() - seen_before) / secs
                ));
            }
            if stop {
                bar.abandon();
                return Ok(EpochEnd::Stopped {
                    steps: done + 1,
                    stats: stats(&losses.mean),
                });
            }
        }
        bar.finish_and_clear();
        Ok(EpochEnd::Complete(stats(&losses.mean)))
    }

    /// `--clip-grad-norm`: rescales the gradients and counts the clipped steps.
    fn clip(&self, opt: &Optimizer) {
        if let Some(max) = opt.config().clip_grad_norm {
            let total = crate::optim::clip_grad_norm(&opt.parameters(), max);
            let (clipped, steps) = self.clipped.get();
            let now = usize::from(max / (total + 1e-6) < 1.0);
            self.clipped.set((clipped + now, steps + 1));
        }
    }

    /// Writes the Ctrl-C checkpoint (with `opt`'s state) and builds the
    /// [`Interrupted`] error.
    fn interrupted(
        &self,
        state: &TrainState,
        epoch: usize,
        opt: &Optimizer,
    ) -> Result<anyhow::Error> {
        let Some(c) = &self.checkpointing else {
            bail!("interrupted during epoch {epoch} (no checkpoint configured)");
        };
        c.write(state, opt)?;
        Ok(anyhow::Error::new(Interrupted {
            epoch,
            steps: state.steps_done,
            checkpoint: c.path.clone(),
        }))
    }
}
