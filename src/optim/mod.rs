//! Optimizers as tensor programs: `torch.optim`'s SGD (momentum, dampening,
//! Nesterov, weight decay), Adam and AdamW, written with libtorch tensor ops
//! in the order of torch 2.11's single-tensor CPU code (`_single_tensor_sgd`,
//! `_single_tensor_adam`), so that a K-step run equals PyTorch's Python
//! optimizer to the last bit on the CPU (`tests/optim_parity.rs`).
//!
//! tch exposes no `alpha`/`value` arguments, so the fused forms are rebuilt
//! from ops that round the same way (see `build-notes.md`, issue 19):
//! `a.add(b, alpha=s)` is `a.addcmul(b, s)` with `s` a 0-dim float32 tensor
//! (both one fused multiply-add on the CPU), `a.addcmul_(b, c, value=s)` is
//! `a.addcmul_(b·s, c)` and `a.addcdiv_(b, c, value=s)` is `a.addcdiv_(b·s, c)`
//! (the kernels compute `s·b` first, in float32, just as the product does).
//!
//! The state keeps PyTorch's layout (`step` a float32 CPU tensor per
//! parameter, `exp_avg`, `exp_avg_sq`, `momentum_buffer`), and
//! [`Optimizer::state_dict`] writes it as `optimizer.state_dict()` names it.
//! libtorch's own C++ optimizers stay reachable through
//! [`OptimConfig::build_libtorch`] (the benchmark compares both).

mod adam;
mod clip;
mod sgd;
mod state;

pub use clip::clip_grad_norm;
pub use state::OptimizerState;

use std::collections::HashMap;

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Which optimizer (`--optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, optionally with momentum (the tutorial's choice).
    #[default]
    Sgd,
    /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8: PyTorch's defaults); weight decay is an L2 term.
    Adam,
    /// AdamW: Adam with decoupled weight decay (`p ← p·(1 − lr·wd)`; PyTorch's
    /// default decay 0.01 when --weight-decay is not given).
    #[value(name = "adamw")]
    #[serde(rename = "adamw")]
    AdamW,
}

impl OptimizerKind {
    /// The name PyTorch's class has (`SGD`, `Adam`, `AdamW`).
    pub(crate) fn torch_name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::AdamW => "AdamW",
        }
    }
}

/// PyTorch's default weight decay of `torch.optim.AdamW`.
pub(crate) const ADAMW_DEFAULT_WEIGHT_DECAY: f64 = 0.01;

/// Optimizer settings, as written to `config.json` (fields missing from an
/// older file take their defaults) and as flags (each field's doc is its
/// `--help`; the defaults are the example's, see [`crate::cli::command`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct OptimConfig {
    /// Optimizer (torch.optim's SGD, Adam or AdamW, computed as PyTorch computes them).
    #[arg(long, value_enum)]
    pub optimizer: OptimizerKind,
    /// Learning rate.
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: f64,
    /// SGD momentum (0 = plain SGD, as in the tutorial).
    #[arg(long, value_name = "M")]
    pub momentum: f64,
    /// Weight decay: an L2 term added to the gradient for SGD and Adam,
    /// decoupled for AdamW (with --optimizer adamw and no --weight-decay:
    /// 0.01, PyTorch's default).
    #[arg(long, value_name = "W")]
    pub weight_decay: f64,
    /// SGD dampening of the momentum.
    #[arg(long, value_name = "D")]
    pub dampening: f64,
    /// SGD Nesterov momentum (needs --momentum > 0, --dampening 0).
    #[arg(long)]
    pub nesterov: bool,
    /// Adam/AdamW beta1 (decay of the first moment).
    #[arg(long, value_name = "B")]
    pub beta1: f64,
    /// Adam/AdamW beta2 (decay of the second moment).
    #[arg(long, value_name = "B")]
    pub beta2: f64,
    /// Adam/AdamW epsilon of the denominator.
    #[arg(long, value_name = "E")]
    pub eps: f64,
    /// Before each step, rescale the gradients so that their total 2-norm is
    /// at most MAX (torch.nn.utils.clip_grad_norm_); the report says how often.
    #[arg(long, value_name = "MAX")]
    pub clip_grad_norm: Option<f64>,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Sgd,
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
            dampening: 0.0,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            clip_grad_norm: None,
        }
    }
}

impl OptimConfig {
    /// PyTorch's AdamW default weight decay (0.01) when `--optimizer adamw`
    /// is given without `--weight-decay` and the example's default is 0.
    pub fn complete(&mut self, flags: &crate::cli::Flags) {
        if self.optimizer == OptimizerKind::AdamW
            && self.weight_decay == 0.0
            && !flags.given("weight_decay")
        {
            self.weight_decay = ADAMW_DEFAULT_WEIGHT_DECAY;
        }
    }

    /// Checks the values a user can set (the ranges `torch.optim` accepts).
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
        if !(0.0..=1.0).contains(&self.dampening) {
            bail!("--dampening must be in [0, 1], got {}", self.dampening);
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            bail!("--nesterov needs --momentum > 0 and --dampening 0 (as torch.optim.SGD)");
        }
        for (flag, b) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                bail!("{flag} must be in [0, 1), got {b}");
            }
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            bail!("--eps must be ≥ 0, got {}", self.eps);
        }
        if let Some(max) = self.clip_grad_norm {
            if !(max.is_finite() && max > 0.0) {
                bail!("--clip-grad-norm must be a positive number, got {max}");
            }
        }
        Ok(())
    }

    /// An optimizer over every trainable variable of `vs`, one parameter group
    /// per VarStore group (`--lr-backbone`), each at `lr`.
    pub fn build(&self, vs: &nn::VarStore) -> Result<Optimizer> {
        Optimizer::new(self, param_groups(vs, self.lr))
    }

    /// libtorch's C++ `torch::optim::SGD` / `Adam` over `vs` (what the loop
    /// used before issue 19; kept for the benchmark's comparison). AdamW and
    /// SGD's dampening/Nesterov map to the C++ options of the same name.
    pub fn build_libtorch(&self, vs: &nn::VarStore) -> Result<nn::Optimizer> {
        self.validate()?;
        let adam = |wd| nn::Adam {
            beta1: self.beta1,
            beta2: self.beta2,
            wd,
            eps: self.eps,
            amsgrad: false,
        };
        let opt = match self.optimizer {
            OptimizerKind::Sgd => nn::Sgd {
                momentum: self.momentum,
                dampening: self.dampening,
                wd: self.weight_decay,
                nesterov: self.nesterov,
            }
            .build(vs, self.lr)?,
            OptimizerKind::Adam => adam(self.weight_decay).build(vs, self.lr)?,
            OptimizerKind::AdamW => nn::AdamW {
                beta1: self.beta1,
                beta2: self.beta2,
                wd: self.weight_decay,
                eps: self.eps,
                amsgrad: false,
            }
            .build(vs, self.lr)?,
        };
        Ok(opt)
    }
}

/// One parameter group: `(state_dict key, variable)` pairs in the model's
/// parameter order, trained at `lr` (PyTorch's `{"params": [...], "lr": lr}`).
#[derive(Debug)]
pub struct ParamGroup {
    /// The group's parameters with their names.
    pub params: Vec<(String, Tensor)>,
    /// Its learning rate.
    pub lr: f64,
}

/// The trainable variables of `vs` as parameter groups, group `g` holding the
/// variables whose VarStore group is `g` (see `finetune::assign_groups`), in
/// the order they were created: the models build their parameters in
/// PyTorch's registration order, so this is `model.parameters()`'s order.
pub fn param_groups(vs: &nn::VarStore, lr: f64) -> Vec<ParamGroup> {
    let vars = vs
        .variables_
        .lock()
        .expect("the VarStore lock is not poisoned");
    let names: HashMap<usize, &String> = vars
        .named_variables
        .iter()
        .map(|(n, t)| (t.data_ptr() as usize, n))
        .collect();
    let count = vars.trainable_variables.iter().map(|v| v.group + 1).max();
    let mut groups: Vec<ParamGroup> = (0..count.unwrap_or(1))
        .map(|_| ParamGroup {
            params: Vec::new(),
            lr,
        })
        .collect();
    for v in &vars.trainable_variables {
        let name = names
            .get(&(v.tensor.data_ptr() as usize))
            .map_or_else(String::new, |n| n.to_string());
        groups[v.group]
            .params
            .push((name, v.tensor.shallow_clone()));
    }
    groups
}

/// What an optimizer keeps per parameter (PyTorch's `optimizer.state[p]`).
#[derive(Debug, Default)]
pub(crate) struct ParamState {
    /// Adam: steps taken, a float32 0-dim tensor on the CPU (as PyTorch keeps it).
    pub step: Option<Tensor>,
    /// Adam: first moment.
    pub exp_avg: Option<Tensor>,
    /// Adam: second moment.
    pub exp_avg_sq: Option<Tensor>,
    /// SGD with momentum: the buffer.
    pub momentum_buffer: Option<Tensor>,
}

/// A parameter with its name and state.
#[derive(Debug)]
pub(crate) struct Param {
    pub name: String,
    pub var: Tensor,
    pub state: ParamState,
}

/// A group at run time.
#[derive(Debug)]
pub(crate) struct Group {
    pub lr: f64,
    pub params: Vec<Param>,
}

/// `torch.optim.SGD` / `Adam` / `AdamW` (`foreach=False`) over parameter
/// groups; replaces tch's `nn::Optimizer` in the training loop.
#[derive(Debug)]
pub struct Optimizer {
    pub(crate) cfg: OptimConfig,
    pub(crate) groups: Vec<Group>,
    /// 0-dim float32 tensors of the scalars used as `alpha`, per device.
    scalars: HashMap<(u32, Device), Tensor>,
}

impl Optimizer {
    /// An optimizer with `cfg`'s settings over `groups` (each with its own lr;
    /// `cfg.lr` is not used). Errors on invalid settings.
    pub fn new(cfg: &OptimConfig, groups: Vec<ParamGroup>) -> Result<Self> {
        cfg.validate()?;
        let groups = groups
            .into_iter()
            .map(|g| Group {
                lr: g.lr,
                params: g
                    .params
                    .into_iter()
                    .map(|(name, var)| Param {
                        name,
                        var,
                        state: ParamState::default(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            cfg: cfg.clone(),
            groups,
            scalars: HashMap::new(),
        })
    }

    /// The settings (optimizer kind, betas, ...).
    pub fn config(&self) -> &OptimConfig {
        &self.cfg
    }

    /// Zeroes every parameter's gradient in place (tch cannot unset a
    /// gradient as PyTorch's `set_to_none` does; numerically the same).
    pub fn zero_grad(&mut self) {
        for p in self.groups.iter_mut().flat_map(|g| g.params.iter_mut()) {
            p.var.zero_grad();
        }
    }

    /// One update of every parameter that has a gradient, under `no_grad`,
    /// in `torch.optim`'s single-tensor op order.
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        let cfg = self.cfg.clone();
        let mut groups = std::mem::take(&mut self.groups);
        for g in &mut groups {
            for p in &mut g.params {
                let grad = p.var.grad();
                if !grad.defined() {
                    continue;
                }
                match cfg.optimizer {
                    OptimizerKind::Sgd => sgd::step(self, &cfg, g.lr, p, grad),
                    OptimizerKind::Adam | OptimizerKind::AdamW => {
                        adam::step(self, &cfg, g.lr, p, grad)
                    }
                }
            }
        }
        self.groups = groups;
    }

    /// Sets the learning rate of group `group` (no-op for a group that does not exist).
    pub(crate) fn set_lr(&mut self, group: usize, lr: f64) {
        if let Some(g) = self.groups.get_mut(group) {
            g.lr = lr;
        }
    }

    /// The learning rate of group `group` (NaN for a group that does not exist).
    pub fn lr(&self, group: usize) -> f64 {
        self.groups.get(group).map_or(f64::NAN, |g| g.lr)
    }

    /// Number of parameter groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Every parameter (shallow handles), in state-index order.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().map(|p| p.var.shallow_clone()))
            .collect()
    }

    /// Every parameter's name, in state-index order.
    pub fn parameter_names(&self) -> Vec<String> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().map(|p| p.name.clone()))
            .collect()
    }

    /// `value` as a 0-dim float32 tensor on `device` (the `alpha` of an
    /// `add`, rounded to float32 as the kernel rounds it), cached.
    pub(crate) fn scalar(&mut self, value: f64, device: Device) -> Tensor {
        let bits = (value as f32).to_bits();
        self.scalars
            .entry((bits, device))
            .or_insert_with(|| Tensor::from(value as f32).to_device(device))
            .shallow_clone()
    }
}

/// `a.add(b, alpha=alpha)` (out of place), as PyTorch rounds it: one fused
/// multiply-add, which `addcmul` with a float32 0-dim tensor also is.
pub(crate) fn add_alpha(opt: &mut Optimizer, a: &Tensor, b: &Tensor, alpha: f64) -> Tensor {
    let s = opt.scalar(alpha, a.device());
    a.addcmul(b, &s)
}

/// `a.add_(b, alpha=alpha)` in place (see [`add_alpha`]).
pub(crate) fn add_alpha_(opt: &mut Optimizer, a: &mut Tensor, b: &Tensor, alpha: f64) {
    let s = opt.scalar(alpha, a.device());
    let _ = a.addcmul_(b, &s);
}

/// A fresh float32 CPU step counter (PyTorch's `torch.tensor(0.0)`).
pub(crate) fn zero_step() -> Tensor {
    Tensor::zeros([], (Kind::Float, Device::Cpu))
}
