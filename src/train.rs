//! The one training and evaluation loop every example uses.

use std::time::Instant;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, Tensor};

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

/// One pass of mini-batch training: forward in train mode, loss, `zero_grad`,
/// `backward`, `step`, as the tutorial's loop does. Stops with an error naming
/// the step when the loss stops being finite.
pub fn train_epoch<M: nn::ModuleT>(
    model: &M,
    opt: &mut nn::Optimizer,
    batches: Batches,
    loss_fn: Loss,
    bar: &ProgressBar,
    epoch: usize,
) -> Result<EpochStats> {
    let start = Instant::now();
    let mut mean = RunningMean::new();
    for (step, (xs, ys)) in batches.enumerate() {
        let outputs = model.forward_t(&xs, true);
        let loss = loss_fn.compute(&outputs, &ys);
        opt.zero_grad();
        loss.backward();
        opt.step();
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            bail!(
                "the training loss became {value} at epoch {epoch}, step {} : the run diverged; \
                 try a smaller learning rate (--lr)",
                step + 1
            );
        }
        let n = xs.size()[0] as f64;
        mean.add(value, n);
        bar.inc(1);
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "loss {:.4} | {:.0} samples/s",
            mean.mean(),
            mean.weight() / secs
        ));
    }
    bar.finish_and_clear();
    Ok(EpochStats {
        loss: mean.mean(),
        samples: mean.weight() as i64,
        seconds: start.elapsed().as_secs_f64(),
    })
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// Trains `model` for `cfg.epochs` epochs over `xs`/`ys` (kept where they are;
/// batches move to `device`), calling `after_epoch` after each epoch for the
/// metrics to print and record.
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
    mut after_epoch: impl FnMut(usize, &EpochStats) -> Result<Vec<(String, f64)>>,
) -> Result<Vec<EpochRecord>> {
    cfg.validate()?;
    let n = xs.size()[0] as usize;
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let order = cfg.order(n, epoch - 1);
        let batches = Batches::new(xs, ys, cfg.batch_size)
            .order(&order)
            .to_device(device);
        let bar = progress.epoch_bar(epoch, cfg.epochs, batches.num_batches() as u64);
        let stats = train_epoch(model, opt, batches, loss_fn, &bar, epoch)?;
        let metrics = after_epoch(epoch, &stats)?;
        let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        progress.line(format!(
            "epoch {epoch:>3}/{}  train loss {:.4}  {}  {:.1} s  {:.0} samples/s",
            cfg.epochs,
            stats.loss,
            shown.join("  "),
            stats.seconds,
            stats.samples_per_sec()
        ));
        history.push(EpochRecord {
            epoch,
            train_loss: stats.loss,
            train_seconds: stats.seconds,
            samples_per_sec: stats.samples_per_sec(),
            metrics,
        });
    }
    Ok(history)
}
