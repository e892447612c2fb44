//! The optimizer's state in the layout of PyTorch's `optimizer.state_dict()`.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

use super::{Optimizer, OptimizerKind};

/// `optimizer.state_dict()` as tensors and JSON: tensors named
/// `state.{i}.{step,exp_avg,exp_avg_sq,momentum_buffer}` (`i` counts the
/// parameters over all groups, in order; only those that have state), and
/// `param_groups` as torch 2.11 writes them (`params`: the indices).
#[derive(Debug)]
pub struct OptimizerState {
    /// Copies of the state tensors, on the device they live on (`step`: float32, CPU).
    pub tensors: Vec<(String, Tensor)>,
    /// The list of parameter groups.
    pub param_groups: Value,
}

impl Optimizer {
    /// The state in PyTorch's `state_dict()` layout (copies).
    pub fn state_dict(&self) -> OptimizerState {
        let mut tensors = Vec::new();
        let mut groups = Vec::new();
        let mut i = 0usize;
        for g in &self.groups {
            let mut indices = Vec::new();
            for p in &g.params {
                let s = &p.state;
                for (key, t) in [
                    ("momentum_buffer", &s.momentum_buffer),
                    ("step", &s.step),
                    ("exp_avg", &s.exp_avg),
                    ("exp_avg_sq", &s.exp_avg_sq),
                ] {
                    if let Some(t) = t {
                        tensors.push((format!("state.{i}.{key}"), t.detach().copy()));
                    }
                }
                indices.push(i);
                i += 1;
            }
            groups.push(self.group_json(g.lr, indices));
        }
        OptimizerState {
            tensors,
            param_groups: Value::Array(groups),
        }
    }

    /// One entry of `param_groups`, with torch 2.11's keys for this optimizer.
    fn group_json(&self, lr: f64, params: Vec<usize>) -> Value {
        let c = &self.cfg;
        match c.optimizer {
            OptimizerKind::Sgd => json!({
                "lr": lr, "momentum": c.momentum, "dampening": c.dampening,
                "weight_decay": c.weight_decay, "nesterov": c.nesterov, "maximize": false,
                "foreach": false, "differentiable": false, "fused": null, "params": params,
            }),
            OptimizerKind::Adam | OptimizerKind::AdamW => json!({
                "lr": lr, "betas": [c.beta1, c.beta2], "eps": c.eps,
                "weight_decay": c.weight_decay, "amsgrad": false, "maximize": false,
                "foreach": false, "capturable": false, "differentiable": false, "fused": null,
                "decoupled_weight_decay": c.optimizer == OptimizerKind::AdamW, "params": params,
            }),
        }
    }

    /// Takes the state of `s` (PyTorch's `load_state_dict`: the groups'
    /// learning rates too). Errors name what differs: the optimizer kind, a
    /// hyperparameter (file value and this run's), the number of groups or
    /// parameters, a tensor's shape.
    pub fn load_state_dict(&mut self, s: &OptimizerState) -> Result<()> {
        let groups = s
            .param_groups
            .as_array()
            .context("the optimizer state's param_groups is not a list")?;
        if groups.len() != self.groups.len() {
            bail!(
                "the optimizer state has {} parameter groups, this run has {}",
                groups.len(),
                self.groups.len()
            );
        }
        let kind = saved_kind(groups)?;
        if kind != self.cfg.optimizer {
            bail!(
                "the optimizer state is {}'s, but this run uses {} (--optimizer)",
                kind.torch_name(),
                self.cfg.optimizer.torch_name()
            );
        }
        let mut lrs = Vec::new();
        for (k, (saved, mine)) in groups.iter().zip(&self.groups).enumerate() {
            self.check_group(k, saved, mine.params.len())?;
            lrs.push(
                saved["lr"]
                    .as_f64()
                    .context("param_groups: lr is not a number")?,
            );
        }
        let mut fresh = Vec::new();
        let mut i = 0usize;
        for g in &self.groups {
            for p in &g.params {
                fresh.push(take_state(s, i, &p.var)?);
                i += 1;
            }
        }
        let mut fresh = fresh.into_iter();
        for (g, lr) in self.groups.iter_mut().zip(lrs) {
            g.lr = lr;
            for p in &mut g.params {
                p.state = fresh.next().expect("one state per parameter");
            }
        }
        Ok(())
    }

    /// Refuses a saved group whose hyperparameters or size differ from ours.
    fn check_group(&self, k: usize, saved: &Value, n: usize) -> Result<()> {
        let count = saved["params"].as_array().map_or(0, Vec::len);
        if count != n {
            bail!("the optimizer state's group {k} has {count} parameters, this run's has {n}");
        }
        let mine = self.group_json(0.0, Vec::new());
        for (key, flag) in [
            ("momentum", "--momentum"),
            ("dampening", "--dampening"),
            ("nesterov", "--nesterov"),
            ("weight_decay", "--weight-decay"),
            ("betas", "--beta1/--beta2"),
            ("eps", "--eps"),
        ] {
            let (a, b) = (&saved[key], &mine[key]);
            if !b.is_null() && !same_value(a, b) {
                bail!("the optimizer state's group {k} has {key} {a}, this run has {b} ({flag})");
            }
        }
        Ok(())
    }
}

/// JSON values equal as numbers (`0` and `0.0`), lists element by element.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// The optimizer a saved `param_groups` belongs to.
fn saved_kind(groups: &[Value]) -> Result<OptimizerKind> {
    let Some(g) = groups.first() else {
        bail!("the optimizer state has no parameter groups");
    };
    if g.get("betas").is_some() {
        Ok(if g["decoupled_weight_decay"].as_bool() == Some(true) {
            OptimizerKind::AdamW
        } else {
            OptimizerKind::Adam
        })
    } else if g.get("momentum").is_some() {
        Ok(OptimizerKind::Sgd)
    } else {
        bail!("the optimizer state is neither SGD's nor Adam's (no `momentum`, no `betas`)")
    }
}

/// The state of parameter `i` from `s`, checked against `var`'s shape and
/// moved to its device (`step` stays a float32 CPU tensor).
fn take_state(s: &OptimizerState, i: usize, var: &Tensor) -> Result<super::ParamState> {
    let find = |key: &str| -> Result<Option<Tensor>> {
        let name = format!("state.{i}.{key}");
        let Some((_, t)) = s.tensors.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        if key == "step" {
            return Ok(Some(t.to_device(Device::Cpu).to_kind(Kind::Float).copy()));
        }
        if t.size() != var.size() {
            bail!(
                "{name} has shape {:?}, the parameter has {:?}",
                t.size(),
                var.size()
            );
        }
        Ok(Some(t.to_device(var.device()).to_kind(var.kind()).copy()))
    };
    Ok(super::ParamState {
        step: find("step")?,
        exp_avg: find("exp_avg")?,
        exp_avg_sq: find("exp_avg_sq")?,
        momentum_buffer: find("momentum_buffer")?,
    })
}
