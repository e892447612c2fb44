//! Early stopping inside the training loop: tracks the best epoch of a
//! validation metric, keeps its weights (in memory and, with checkpointing,
//! as `best.safetensors`) and restores them at the end (Prechelt, "Early
//! Stopping — But When?", 1998; Keras' `restore_best_weights`).

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::{Checkpointing, TrainState};
use crate::checkpoint;
use crate::schedule::EarlyStopping;

/// The tracker of one [`super::Trainer::fit`] call.
pub struct EarlyStopper<'a> {
    es: &'a EarlyStopping,
    vs: &'a nn::VarStore,
    checkpointing: Option<&'a Checkpointing<'a>>,
    /// Deep copies of the best weights so far.
    best: Option<Vec<(String, Tensor)>>,
}

impl<'a> EarlyStopper<'a> {
    /// Starts tracking; after a resume the best weights come from the
    /// checkpoint's `best.safetensors`.
    pub fn new(
        es: &'a EarlyStopping,
        vs: &'a nn::VarStore,
        checkpointing: Option<&'a Checkpointing<'a>>,
        state: &TrainState,
    ) -> Result<Self> {
        let mut best = None;
        if let (Some(c), Some(_)) = (checkpointing, state.best_epoch) {
            if c.best_path().exists() {
                best = Some(checkpoint::read(&c.best_path())?);
            }
        }
        Ok(Self {
            es,
            vs,
            checkpointing,
            best,
        })
    }

    /// Records epoch `epoch`'s `metrics` in `state`; returns whether patience
    /// has run out. Errors when the watched metric was not reported.
    pub(crate) fn observe(
        &mut self,
        metrics: &[(String, f64)],
        epoch: usize,
        state: &mut TrainState,
    ) -> Result<bool> {
        let Some(&(_, value)) = metrics.iter().find(|(k, _)| k == &self.es.metric) else {
            bail!(
                "early stopping watches `{}`, which the epoch did not report",
                self.es.metric
            );
        };
        if self.es.improves(value, state.best_metric) {
            state.best_epoch = Some(epoch);
            state.best_metric = Some(value);
            state.bad_epochs = 0;
            // Deep copies: named_tensors aliases the live CPU variables.
            self.best = Some(crate::finetune::snapshot(self.vs, &[String::new()]));
            if let Some(c) = self.checkpointing {
                checkpoint::save(self.vs, &c.best_path())?;
            }
            Ok(false)
        } else {
            state.bad_epochs += 1;
            Ok(state.bad_epochs >= self.es.patience.max(1))
        }
    }

    /// The line printed when patience runs out.
    pub(crate) fn stop_line(&self, state: &TrainState) -> String {
        format!(
            "early stopping: no improvement of {} for {} epochs",
            self.es.metric, state.bad_epochs
        )
    }

    /// Puts the best epoch's weights back; returns the line to print.
    pub(crate) fn restore_best(&self, state: &TrainState) -> Option<String> {
        let weights = self.best.as_ref()?;
        crate::finetune::restore(self.vs, weights);
        Some(format!(
            "early stopping: restored the weights of epoch {} ({} {:.4})",
            state.best_epoch.unwrap_or(0),
            self.es.metric,
            state.best_metric.unwrap_or(f64::NAN)
        ))
    }
}
