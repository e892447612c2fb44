//! The one training and evaluation loop every example uses: the loss, the
//! loop's settings, progress display, evaluation over a whole data set, and
//! (in sub-modules) the [`Trainer`], early stopping, Ctrl-C and the training
//! state that `--resume` continues from.

mod early_stopping;
mod interrupt;
mod sampler;
mod state;
mod step_loss;
mod trainer;

pub use early_stopping::EarlyStopper;
pub use interrupt::{install_interrupt_handler, interrupt_flag, Interrupted};
pub use sampler::{Batch, Sampler, ShuffledPairs};
pub use state::{load_optimizer, save_optimizer, Checkpointing, TrainState};
pub use step_loss::StepLoss;
pub use trainer::{FitData, FitOutcome, Trainer, DEFAULT_LOG_EVERY};

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, Tensor};

use crate::data::{permutation, step_seed, Batches};
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
    /// The mean training loss of `batch`: `model`'s outputs in train mode
    /// against the batch's targets (what a task's `loss` usually is).
    pub fn on_batch<M: nn::ModuleT + ?Sized>(self, model: &M, batch: &Batch) -> Tensor {
        self.compute(&model.forward_t(&batch.inputs, true), &batch.targets)
    }

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct LoopConfig {
    /// Passes over the training data.
    #[arg(long, value_name = "N")]
    pub epochs: usize,
    /// Samples per mini-batch (the last, smaller batch is kept).
    #[arg(long, value_name = "N")]
    pub batch_size: usize,
    /// Seed of the initial weights, dropout, the batch order (and synthetic data).
    #[arg(long, value_name = "N")]
    pub seed: u64,
    /// Visit the training samples in a new seeded order every epoch.
    #[arg(skip = true)]
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

    /// The seed libtorch's generator gets before step `step` (0-based) of
    /// epoch `epoch` (0-based): every random draw of a training step (dropout
    /// masks) depends only on the run's seed, the epoch and the step, so a run
    /// resumed mid-epoch draws what the uninterrupted run drew
    /// ([`step_seed`]; the PyTorch twins call `torch.manual_seed` with the same).
    pub fn step_seed(&self, epoch: usize, step: usize) -> i64 {
        step_seed(self.seed, epoch as u64, step as u64)
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
    pub(crate) fn epoch_bar(&self, epoch: usize, epochs: usize, batches: u64) -> ProgressBar {
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

/// Outputs of a model over a whole data set.
#[derive(Debug)]
pub struct Evaluation {
    /// Mean loss over all samples.
    pub loss: f64,
    /// Model outputs of every sample, in order, on the CPU.
    pub outputs: Tensor,
    /// Targets of every sample, in order, on the CPU.
    pub targets: Tensor,
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
        crate::malloc::release_free_memory(); // the batch's buffers back to the system
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
