//! The running training loss of an epoch, read back from the device only
//! every `sync_every` steps (pytorch/examples' mnist reads `loss.item()` only
//! every `--log-interval` batches): on a GPU a read-back makes the host wait
//! for every queued kernel, so reading every step would serialise the loop.
//!
//! On the CPU `sync_every` is 1: each step's loss is read at once and a
//! non-finite loss stops the epoch before the bad update, exactly as before.
//! With `sync_every > 1` the losses are summed on the device (float64), a
//! non-finite sum is found at the next read-back, and the weights of the last
//! good read-back (kept on the device; these models are small) are restored.

use anyhow::{bail, Result};
use tch::{nn, Kind, Tensor};

use crate::metrics::RunningMean;

/// Losses of the steps since the last read-back.
pub struct StepLoss {
    /// Steps between read-backs (1: every step, checked before its update).
    pub sync_every: usize,
    /// The epoch's running mean (what was read back so far).
    pub mean: RunningMean,
    /// `Σ loss · batch size` since the last read-back, on the device.
    pending: Option<Tensor>,
    /// Samples in `pending`.
    pending_samples: f64,
    /// 1-based step of the first pending loss.
    pending_from: usize,
    /// Each variable (a shallow handle) with its value at the last good
    /// read-back, to restore after a non-finite loss; refreshed in place.
    rollback: Option<Vec<(Tensor, Tensor)>>,
}

impl StepLoss {
    /// Starts an epoch at step `first_step + 1` with the running mean `mean`
    /// (of an epoch resumed part-way); `vs` is what a deferred check restores.
    pub fn new(
        sync_every: usize,
        mean: RunningMean,
        first_step: usize,
        vs: Option<&nn::VarStore>,
    ) -> Self {
        let sync_every = sync_every.max(1);
        let rollback = vs.filter(|_| sync_every > 1).map(|vs| {
            vs.variables()
                .into_values()
                .map(|var| {
                    let saved = var.detach().copy();
                    (var, saved)
                })
                .collect()
        });
        Self {
            sync_every,
            mean,
            pending: None,
            pending_samples: 0.0,
            pending_from: first_step + 1,
            rollback,
        }
    }

    /// Whether the loss of each step is read (and checked) before its update.
    pub(crate) fn checks_every_step(&self) -> bool {
        self.sync_every == 1
    }

    /// Reads `loss` (the mean of a batch of `n` samples) at once; errors on a
    /// non-finite value, before the update (`sync_every == 1`).
    pub(crate) fn check_now(
        &mut self,
        loss: &Tensor,
        n: f64,
        epoch: usize,
        step: usize,
    ) -> Result<()> {
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            bail!(
                "the training loss became {value} at epoch {epoch}, step {step}: the run diverged \
                 (the weights of the last good step are kept; a smaller learning rate, --lr, usually helps)"
            );
        }
        self.mean.add(value, n);
        Ok(())
    }

    /// Adds `loss` (after its update) on the device; reads back when `step`
    /// completes a period or `last` is set.
    pub(crate) fn defer(
        &mut self,
        loss: &Tensor,
        n: f64,
        epoch: usize,
        step: usize,
        last: bool,
    ) -> Result<()> {
        let term = loss.detach().to_kind(Kind::Double) * n;
        self.pending = Some(match self.pending.take() {
            Some(sum) => sum + term,
            None => term,
        });
        self.pending_samples += n;
        if last || step.is_multiple_of(self.sync_every) {
            self.read_back(epoch, step)?;
        }
        Ok(())
    }

    /// Reads the pending sum back to the host (a device sync); on a
    /// non-finite sum restores the last good weights and errors, naming the
    /// discarded steps.
    pub(crate) fn read_back(&mut self, epoch: usize, step: usize) -> Result<()> {
        let Some(sum) = self.pending.take() else {
            return Ok(());
        };
        let total = sum.double_value(&[]);
        let (from, n) = (self.pending_from, self.pending_samples);
        self.pending_samples = 0.0;
        self.pending_from = step + 1;
        if !total.is_finite() {
            let restored = match &mut self.rollback {
                Some(pairs) => {
                    tch::no_grad(|| {
                        for (var, saved) in pairs.iter_mut() {
                            var.copy_(saved);
                        }
                    });
                    format!("the weights after step {} were restored", from - 1)
                }
                None => "the weights were left as they are".to_string(),
            };
            bail!(
                "the training loss became non-finite at epoch {epoch}, between steps {from} and {step} \
                 (the loss is read back every {} steps): steps {from}..={step} were discarded and \
                 {restored}; the run diverged (a smaller learning rate, --lr, usually helps)",
                self.sync_every
            );
        }
        self.mean.add(total / n, n);
        if let Some(pairs) = &mut self.rollback {
            tch::no_grad(|| {
                for (var, saved) in pairs.iter_mut() {
                    saved.copy_(var);
                }
            });
        }
        Ok(())
    }
}
