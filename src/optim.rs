//! Optimizers: libtorch's own C++ `torch::optim::SGD` and `Adam`, configured
//! like PyTorch's `optim.SGD` / `optim.Adam`.
//!
//! The C++ SGD runs the very update PyTorch's Python SGD runs
//! (`d_p = g + wd·p`, optional momentum buffer, `p.add_(d_p, alpha=-lr)`), so
//! training steps match PyTorch to the last bit when the gradients do. The C++
//! Adam updates its first moment with `mul_`/`add_` where Python's uses `lerp_`:
//! the same formula, rounded differently in the last bit.

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};

/// Which optimizer (`--optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, optionally with momentum (the tutorial's choice).
    #[default]
    Sgd,
    /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8: PyTorch's defaults).
    Adam,
}

/// Optimizer settings, as written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimConfig {
    /// SGD or Adam.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum (0: plain SGD); ignored by Adam.
    pub momentum: f64,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`).
    pub weight_decay: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Sgd,
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl OptimConfig {
    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!("--weight-decay must be ≥ 0, got {}", self.weight_decay);
        }
        Ok(())
    }

    /// An optimizer over every trainable variable of `vs`.
    pub fn build(&self, vs: &nn::VarStore) -> Result<nn::Optimizer> {
        self.validate()?;
        let opt = match self.optimizer {
            OptimizerKind::Sgd => nn::Sgd {
                momentum: self.momentum,
                dampening: 0.0,
                wd: self.weight_decay,
                nesterov: false,
            }
            .build(vs, self.lr)?,
            OptimizerKind::Adam => nn::Adam {
                beta1: 0.9,
                beta2: 0.999,
                wd: self.weight_decay,
                eps: 1e-8,
                amsgrad: false,
            }
            .build(vs, self.lr)?,
        };
        Ok(opt)
    }
}
