//! Learning-rate schedules (PyTorch's `StepLR` and `CosineAnnealingLR`), the
//! linear warm-up over the first optimizer steps (`--warmup-steps`), and
//! early stopping on a validation metric.
//!
//! The schedules follow PyTorch's *recursive* `get_lr` (the one
//! `scheduler.step()` runs once per epoch), not the closed form, so every
//! learning rate equals PyTorch's to the last bit (`tests/finetune.rs` runs
//! PyTorch's schedulers at test time and compares).

use std::f64::consts::PI;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// How the learning rate changes from epoch to epoch (`--lr-schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate every epoch.
    #[default]
    Constant,
    /// `StepLR(step_size, gamma)`: multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Factor of each decay.
        gamma: f64,
    },
    /// `CosineAnnealingLR(T_max, eta_min)`: half a cosine from the base rate
    /// down to `eta_min` over `t_max` epochs (and back up after, as PyTorch does).
    Cosine {
        /// Epochs of the half period (usually the number of epochs).
        t_max: usize,
        /// The lowest rate.
        eta_min: f64,
    },
}

/// `--lr-schedule` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleKind {
    /// PyTorch's StepLR(--lr-step-size, --lr-gamma).
    Step,
    /// PyTorch's CosineAnnealingLR(T_max = --epochs, eta_min = --lr-min).
    Cosine,
}

/// The learning-rate schedule as flags (`--lr-schedule`, `--lr-step-size`,
/// `--lr-gamma`, `--lr-min`); written to `config.json` as the
/// [`LrSchedule`] it describes (`{"kind": "step", "step_size": 1, "gamma": 0.7}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(from = "LrSchedule", into = "LrSchedule")]
pub struct ScheduleConfig {
    /// Learning-rate schedule, stepped once per epoch as PyTorch's schedulers are.
    #[arg(
        long = "lr-schedule",
        id = "lr_schedule",
        value_name = "KIND",
        value_enum
    )]
    pub kind: Option<ScheduleKind>,
    /// StepLR: epochs between decays.
    #[arg(long = "lr-step-size", id = "lr_step_size", value_name = "N",
          default_value_t = ScheduleConfig::default().step_size)]
    pub step_size: usize,
    /// StepLR: factor of each decay.
    #[arg(long = "lr-gamma", id = "lr_gamma", value_name = "F",
          default_value_t = ScheduleConfig::default().gamma)]
    pub gamma: f64,
    /// Cosine: the final learning rate (eta_min).
    #[arg(long = "lr-min", id = "lr_min", value_name = "LR",
          default_value_t = ScheduleConfig::default().eta_min)]
    pub eta_min: f64,
    /// Cosine: epochs of the half period; 0 until [`ScheduleConfig::complete`]
    /// sets it to the run's epochs.
    #[arg(skip)]
    pub t_max: usize,
}

impl Default for ScheduleConfig {
    /// No schedule; StepLR's step 1 and factor 0.7 (pytorch/examples' MNIST),
    /// cosine down to 0 when one is chosen.
    fn default() -> Self {
        Self {
            kind: None,
            step_size: 1,
            gamma: 0.7,
            eta_min: 0.0,
            t_max: 0,
        }
    }
}

impl ScheduleConfig {
    /// A cosine schedule spans the run's `epochs` (PyTorch's usual `T_max`).
    pub fn complete(&mut self, epochs: usize) {
        if self.kind == Some(ScheduleKind::Cosine) && self.t_max == 0 {
            self.t_max = epochs;
        }
    }

    /// The schedule these settings describe.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule::from(*self)
    }
}

impl From<ScheduleConfig> for LrSchedule {
    fn from(c: ScheduleConfig) -> Self {
        match c.kind {
            None => LrSchedule::Constant,
            Some(ScheduleKind::Step) => LrSchedule::Step {
                step_size: c.step_size,
                gamma: c.gamma,
            },
            Some(ScheduleKind::Cosine) => LrSchedule::Cosine {
                t_max: c.t_max,
                eta_min: c.eta_min,
            },
        }
    }
}

impl From<LrSchedule> for ScheduleConfig {
    fn from(s: LrSchedule) -> Self {
        let d = ScheduleConfig::default();
        match s {
            LrSchedule::Constant => d,
            LrSchedule::Step { step_size, gamma } => Self {
                kind: Some(ScheduleKind::Step),
                step_size,
                gamma,
                ..d
            },
            LrSchedule::Cosine { t_max, eta_min } => Self {
                kind: Some(ScheduleKind::Cosine),
                t_max,
                eta_min,
                ..d
            },
        }
    }
}

impl LrSchedule {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LrSchedule::Constant => {}
            LrSchedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    bail!("--lr-step-size must be at least 1");
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    bail!("--lr-gamma must be a positive number, got {gamma}");
                }
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    bail!("the cosine schedule needs T_max ≥ 1");
                }
                if !(eta_min.is_finite() && eta_min >= 0.0) {
                    bail!("--lr-min must be ≥ 0, got {eta_min}");
                }
            }
        }
        Ok(())
    }

    /// The learning rate of each of the first `epochs` epochs (0-based) for a
    /// group whose base rate is `base`: what `group["lr"]` holds during epoch
    /// `e` when PyTorch calls `scheduler.step()` after every epoch.
    pub fn lrs(&self, base: f64, epochs: usize) -> Vec<f64> {
        let mut lr = base;
        let mut out = Vec::with_capacity(epochs);
        for e in 0..epochs {
            if e > 0 {
                lr = self.next(base, lr, e);
            }
            out.push(lr);
        }
        out
    }

    /// The rate of epoch `epoch` (0-based).
    pub fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        self.lrs(base, epoch + 1)[epoch]
    }

    /// PyTorch's `get_lr` at `last_epoch = e ≥ 1`, from the current rate `lr`.
    fn next(&self, base: f64, lr: f64, e: usize) -> f64 {
        match *self {
            LrSchedule::Constant => lr,
            LrSchedule::Step { step_size, gamma } => {
                if e.is_multiple_of(step_size) {
                    lr * gamma
                } else {
                    lr
                }
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                let t = t_max as f64;
                let (ei, ti) = (e as i64, t_max as i64);
                if (ei - 1 - ti).rem_euclid(2 * ti) == 0 {
                    lr + (base - eta_min) * (1.0 - (PI / t).cos()) / 2.0
                } else {
                    (1.0 + (PI * e as f64 / t).cos()) / (1.0 + (PI * (e - 1) as f64 / t).cos())
                        * (lr - eta_min)
                        + eta_min
                }
            }
        }
    }
}

/// The learning rate of global optimizer step `step` (0-based, counted over
/// every epoch) under a linear warm-up of `warmup` steps (`--warmup-steps`),
/// for a group whose base rate is `base` and whose epoch schedule gives
/// `epoch_lr` for the step's epoch.
///
/// PyTorch's form of the same is one `LambdaLR` stepped after every
/// optimizer step, `lr = base · λ(step)` with
/// `λ(step) = min(1, step / warmup) · (epoch_lr / base)` (the epoch factor
/// read from the epoch scheduler, `parity/common.py::warmup_lambda`); this
/// computes exactly that expression, so the rates equal PyTorch's to the
/// last bit (`tests/warmup_parity.rs`). The first step trains at rate 0,
/// step `warmup` and later at the epoch schedule's rate (up to the last bit
/// of `base · (epoch_lr / base)`). `warmup == 0`: `epoch_lr` itself.
pub fn warmed_lr(base: f64, epoch_lr: f64, step: usize, warmup: usize) -> f64 {
    if warmup == 0 {
        return epoch_lr;
    }
    let ramp = (step as f64 / warmup as f64).min(1.0);
    base * (ramp * (epoch_lr / base))
}

/// Whether a smaller or a larger metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Losses, errors.
    Minimize,
    /// Accuracies.
    Maximize,
}

/// `--early-stopping PATIENCE`: stop when the validation metric has not
/// improved for `patience` epochs, and restore the weights of the best epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (≥ 1).
    pub patience: usize,
    /// Name of the metric, as the example's `after_epoch` reports it (`val loss`).
    pub metric: String,
    /// Smaller or larger is better.
    pub goal: Goal,
}

impl EarlyStopping {
    /// Whether `value` is strictly better than `best` (any finite value beats none).
    pub(crate) fn improves(&self, value: f64, best: Option<f64>) -> bool {
        if !value.is_finite() {
            return false;
        }
        match (best, self.goal) {
            (None, _) => true,
            (Some(b), Goal::Minimize) => value < b,
            (Some(b), Goal::Maximize) => value > b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_decays_every_step_size_epochs() {
        let s = LrSchedule::Step {
            step_size: 2,
            gamma: 0.5,
        };
        assert_eq!(s.lrs(1.0, 5), vec![1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cosine_reaches_eta_min_at_t_max() {
        let s = LrSchedule::Cosine {
            t_max: 4,
            eta_min: 0.0,
        };
        let lrs = s.lrs(0.1, 5);
        assert_eq!(lrs[0], 0.1);
        assert!(lrs[4].abs() < 1e-12, "{lrs:?}");
        assert!((lrs[2] - 0.05).abs() < 1e-12);
    }

    #[test]
    fn early_stopping_compares_by_goal() {
        let mut es = EarlyStopping {
            patience: 1,
            metric: "val loss".into(),
            goal: Goal::Minimize,
        };
        assert!(es.improves(1.0, None));
        assert!(es.improves(0.5, Some(1.0)));
        assert!(!es.improves(1.0, Some(1.0)));
        assert!(!es.improves(f64::NAN, None));
        es.goal = Goal::Maximize;
        assert!(es.improves(0.9, Some(0.8)));
    }
}
