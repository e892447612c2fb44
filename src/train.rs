//! The one training and evaluation loop every example uses.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, Tensor};

use crate::checkpoint;
use crate::data::{permutation, Batches};
use crate::metrics::RunningMean;

/// The loss a model is trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// `nn.CrossEntropyLoss()`: outputs `[batch, classes]` logits, targets `[batch]` class indices.
    CrossEntropy,
    /// `nn.MSELoss()`: outputs and targets of the same shape.
    Mse,
}

impl Loss {
    /// The mean loss of a batch.
    pub fn compute(self, outputs: &Tensor, targets: &Tensor) -> Tensor {
        match self {
            Loss::CrossEntropy => {
                outputs.cross_entropy_loss::<Tensor>(targets, None, Reduction::Mean, -100, 0.0)
            }
            Loss::Mse => outputs.mse_loss(targets, Reduction::Mean),
        }
    }
}

/// Settings of the loop, shared by the examples and written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per mini-batch (the last, smaller batch is kept).
    pub batch_size: usize,
    /// Seed of libtorch's generator (initialisation, dropout) and of the batch order.
    pub seed: u64,
    /// Visit the training samples in a new seeded order every epoch.
    pub shuffle: bool,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            shuffle: true,
        }
    }
}

impl LoopConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        Ok(())
    }

    /// The order of epoch `epoch` over `n` samples: seeded, or `0..n` without shuffling.
    pub fn order(&self, n: usize, epoch: usize) -> Vec<i64> {
        if self.shuffle {
            permutation(n, self.seed, epoch as u64)
        } else {
            (0..n as i64).collect()
        }
    }
}

/// What one training epoch measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochStats {
    /// Mean training loss over the epoch's samples.
    pub loss: f64,
    /// Samples seen.
    pub samples: i64,
    /// Wall-clock seconds of the epoch (data movement included).
    pub seconds: f64,
}

impl EpochStats {
    /// Training throughput.
    pub fn samples_per_sec(&self) -> f64 {
        self.samples as f64 / self.seconds.max(1e-9)
    }
}

/// Progress display: an indicatif bar per epoch, hidden by `--quiet` (and by
/// indicatif itself when stderr is not a terminal).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// No bars and no per-epoch lines.
    pub quiet: bool,
}

impl Progress {
    /// A bar for epoch `epoch` (1-based) of `epochs`, over `batches` steps.
    pub fn epoch_bar(&self, epoch: usize, epochs: usize, batches: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(batches);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
            )
            .expect("the progress template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        bar
    }

    /// Prints a line unless quiet.
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", text.as_ref());
        }
    }
}

/// How a training epoch ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpochEnd {
    /// Every batch was seen.
    Complete(EpochStats),
    /// The stop flag was raised (Ctrl-C) after `steps` batches of this call.
    Stopped {
        /// Batches done in this call before stopping.
        steps: usize,
        /// Statistics of those batches.
        stats: EpochStats,
    },
}

/// One pass of mini-batch training: forward in train mode, loss, `zero_grad`,
/// `backward`, `step`, as the tutorial's loop does.
///
/// The loss is checked before the update: when it is NaN or infinite the
/// epoch stops with an error naming the epoch and step, and the weights are
/// left as they were after the last good step. `stop` is polled after each
/// step (the Ctrl-C flag). `mean` carries the running loss of an epoch resumed
/// part-way; `first_step` numbers the steps in messages.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch<M: nn::ModuleT>(
    model: &M,
    opt: &mut nn::Optimizer,
    batches: Batches,
    loss_fn: Loss,
    bar: &ProgressBar,
    epoch: usize,
    first_step: usize,
    mut mean: RunningMean,
    stop: &AtomicBool,
) -> Result<EpochEnd> {
    let start = Instant::now();
    let seen_before = mean.weight();
    for (done, (xs, ys)) in batches.enumerate() {
        let outputs = model.forward_t(&xs, true);
        let loss = loss_fn.compute(&outputs, &ys);
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            bar.abandon();
            bail!(
                "the training loss became {value} at epoch {epoch}, step {}: the run diverged \
                 (the weights of the last good step are kept; a smaller learning rate, --lr, usually helps)",
                first_step + done + 1
            );
        }
        opt.zero_grad();
        loss.backward();
        opt.step();
        mean.add(value, xs.size()[0] as f64);
        bar.inc(1);
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "loss {:.4} | {:.0} samples/s",
            mean.mean(),
            (mean.weight() - seen_before) / secs
        ));
        if stop.load(Ordering::SeqCst) {
            bar.abandon();
            let stats = EpochStats {
                loss: mean.mean(),
                samples: mean.weight() as i64,
                seconds: start.elapsed().as_secs_f64(),
            };
            return Ok(EpochEnd::Stopped {
                steps: done + 1,
                stats,
            });
        }
    }
    bar.finish_and_clear();
    Ok(EpochEnd::Complete(EpochStats {
        loss: mean.mean(),
        samples: mean.weight() as i64,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

/// Outputs of a model over a whole data set.
#[derive(Debug)]
pub struct Evaluation {
    /// Mean loss over all samples.
    pub loss: f64,
    /// Model outputs of every sample, in order, on the CPU.
    pub outputs: Tensor,
    /// Targets of every sample, in order, on the CPU.
    pub targets: Tensor,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs the model in eval mode (`forward_t(.., false)`, no gradients) over
/// every sample of `xs`/`ys`, the last partial batch included.
pub fn evaluate<M: nn::ModuleT>(
    model: &M,
    xs: &Tensor,
    ys: &Tensor,
    batch_size: usize,
    device: Device,
    loss_fn: Loss,
) -> Evaluation {
    let start = Instant::now();
    let _guard = tch::no_grad_guard();
    let mut mean = RunningMean::new();
    let mut outputs = Vec::new();
    for (bx, by) in Batches::new(xs, ys, batch_size).to_device(device) {
        let out = model.forward_t(&bx, false);
        mean.add(
            loss_fn.compute(&out, &by).double_value(&[]),
            bx.size()[0] as f64,
        );
        outputs.push(out.to_device(Device::Cpu));
    }
    let outputs = if outputs.is_empty() {
        Tensor::zeros([0], (Kind::Float, Device::Cpu))
    } else {
        Tensor::cat(&outputs, 0)
    };
    Evaluation {
        loss: mean.mean(),
        outputs,
        targets: ys.to_device(Device::Cpu),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Per-epoch record of a run, as written to `--metrics-json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Seconds of training (evaluation excluded).
    pub train_seconds: f64,
    /// Training samples per second.
    pub samples_per_sec: f64,
    /// Whatever the example evaluated after the epoch (`test_accuracy`, `val_rmse`, ...).
    pub metrics: Vec<(String, f64)>,
}

/// The process-wide stop flag raised by Ctrl-C (see [`install_interrupt_handler`]).
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Makes Ctrl-C (SIGINT) raise [`interrupt_flag`]: training finishes its
/// current step, writes a checkpoint and returns [`Interrupted`]. A second
/// Ctrl-C exits at once with status 130.
pub fn install_interrupt_handler() -> Result<()> {
    let flag = interrupt_flag();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current step, then writing a checkpoint (Ctrl-C again to quit now)");
    })
    .context("cannot install the Ctrl-C handler")
}

/// The error a run returns when it was stopped by Ctrl-C.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted {
    /// Epoch (1-based) that was running.
    pub epoch: usize,
    /// Batches of that epoch done.
    pub steps: usize,
    /// The checkpoint written.
    pub checkpoint: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted during epoch {} after {} steps; checkpoint written to {} \
             (continue with --resume {})",
            self.epoch,
            self.steps,
            self.checkpoint.display(),
            self.checkpoint.display()
        )
    }
}

impl std::error::Error for Interrupted {}

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
    /// Writes weights, configuration and state, each atomically.
    pub fn write(&self, state: &TrainState) -> Result<()> {
        checkpoint::save(self.vs, &self.path)?;
        checkpoint::write_json(&checkpoint::config_path(&self.path), &self.config)?;
        checkpoint::write_json(&TrainState::path(&self.path), state)
    }
}

/// The training loop with its settings: epochs, batch order, loss, device,
/// progress, checkpoints and the stop flag.
#[derive(Debug, Clone)]
pub struct Trainer<'a> {
    /// Epochs, batch size, seed, shuffling.
    pub cfg: &'a LoopConfig,
    /// The loss.
    pub loss: Loss,
    /// Where batches go.
    pub device: Device,
    /// Bars and lines.
    pub progress: Progress,
    /// Periodic and Ctrl-C checkpoints (none: Ctrl-C stops without saving).
    pub checkpointing: Option<Checkpointing<'a>>,
    /// Polled after every step; Ctrl-C's flag by default.
    pub stop: Arc<AtomicBool>,
}

impl<'a> Trainer<'a> {
    /// A trainer without checkpoints, stopped by Ctrl-C.
    pub fn new(cfg: &'a LoopConfig, loss: Loss, device: Device, progress: Progress) -> Self {
        Self {
            cfg,
            loss,
            device,
            progress,
            checkpointing: None,
            stop: interrupt_flag(),
        }
    }

    /// Adds checkpointing.
    pub fn with_checkpointing(mut self, checkpointing: Option<Checkpointing<'a>>) -> Self {
        self.checkpointing = checkpointing;
        self
    }

    /// Trains `model` (variables in `vs`) over `xs`/`ys` from `state` up to
    /// `cfg.epochs` epochs, calling `after_epoch` after each epoch for the
    /// metrics to print and record. Returns every epoch's record, those of the
    /// state included. A resumed run visits exactly the batches the
    /// uninterrupted run would have (same seeded order, the done ones skipped).
    pub fn fit<M: nn::ModuleT>(
        &self,
        model: &M,
        opt: &mut nn::Optimizer,
        xs: &Tensor,
        ys: &Tensor,
        mut state: TrainState,
        mut after_epoch: impl FnMut(usize, &EpochStats) -> Result<Vec<(String, f64)>>,
    ) -> Result<Vec<EpochRecord>> {
        let cfg = self.cfg;
        cfg.validate()?;
        let n = xs.size()[0] as usize;
        let bs = cfg.batch_size;
        while state.epochs_done < cfg.epochs {
            let epoch = state.epochs_done + 1;
            let order = cfg.order(n, epoch - 1);
            let skip = (state.steps_done * bs).min(n);
            let batches = Batches::new(xs, ys, bs)
                .order(&order)
                .to_device(self.device);
            let total = batches.num_batches() as u64;
            let mut mean = RunningMean::new();
            mean.add(
                if state.partial_samples > 0.0 {
                    state.partial_loss_sum / state.partial_samples
                } else {
                    0.0
                },
                state.partial_samples,
            );
            let bar = self.progress.epoch_bar(epoch, cfg.epochs, total);
            bar.set_position(state.steps_done as u64);
            let end = train_epoch(
                model,
                opt,
                batches.skip_samples(skip),
                self.loss,
                &bar,
                epoch,
                state.steps_done,
                mean,
                &self.stop,
            )?;
            let stats = match end {
                EpochEnd::Complete(stats) => stats,
                EpochEnd::Stopped { steps, stats } => {
                    state.steps_done += steps;
                    state.partial_loss_sum = stats.loss * stats.samples as f64;
                    state.partial_samples = stats.samples as f64;
                    return Err(self.interrupted(&state, epoch)?);
                }
            };
            let metrics = after_epoch(epoch, &stats)?;
            let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            self.progress.line(format!(
                "epoch {epoch:>3}/{}  train loss {:.4}  {}  {:.1} s  {:.0} samples/s",
                cfg.epochs,
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
            if let Some(c) = &self.checkpointing {
                if c.every > 0 && (epoch.is_multiple_of(c.every) || epoch == cfg.epochs) {
                    c.write(&state)?;
                }
            }
            if self.stop.load(Ordering::SeqCst) && epoch < cfg.epochs {
                return Err(self.interrupted(&state, epoch + 1)?);
            }
        }
        Ok(state.history)
    }

    /// Writes the Ctrl-C checkpoint and builds the [`Interrupted`] error.
    fn interrupted(&self, state: &TrainState, epoch: usize) -> Result<anyhow::Error> {
        let Some(c) = &self.checkpointing else {
            bail!("interrupted during epoch {epoch} (no checkpoint configured)");
        };
        c.write(state)?;
        Ok(anyhow::Error::new(Interrupted {
            epoch,
            steps: state.steps_done,
            checkpoint: c.path.clone(),
        }))
    }
}

/// Trains `model` for `cfg.epochs` epochs over `xs`/`ys` from scratch, without
/// checkpoints: [`Trainer::fit`] for the simple case.
#[allow(clippy::too_many_arguments)]
pub fn fit<M: nn::ModuleT>(
    model: &M,
    opt: &mut nn::Optimizer,
    xs: &Tensor,
    ys: &Tensor,
    cfg: &LoopConfig,
    loss_fn: Loss,
    device: Device,
    progress: Progress,
    after_epoch: impl FnMut(usize, &EpochStats) -> Result<Vec<(String, f64)>>,
) -> Result<Vec<EpochRecord>> {
    Trainer::new(cfg, loss_fn, device, progress).fit(
        model,
        opt,
        xs,
        ys,
        TrainState::default(),
        after_epoch,
    )
}
