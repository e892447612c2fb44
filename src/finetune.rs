//! Fine-tuning and transfer learning on any model of the crate: start from a
//! checkpoint's matching weights (`--init-from`), freeze parts
//! (`--freeze`), re-initialise parts (`--reset`) and train the kept backbone
//! with a smaller learning rate (`--lr-backbone`, optimizer parameter groups).
//!
//! Names are VarStore names (= PyTorch `state_dict` keys); a prefix selects
//! every name that starts with it (`conv` selects `conv1.*` and `conv2.*`).
//!
//! The model must have been built (seeded) before [`prepare`]: its fresh
//! weights are PyTorch's initialisation, and a reset restores exactly those
//! values, as a PyTorch user rebuilding the layer would get.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::checkpoint;

/// Group of the parameters trained at `--lr` (reset, newly initialised: the head).
pub const HEAD_GROUP: usize = 0;
/// Group of the kept, un-frozen parameters when `--lr-backbone` is given.
pub const BACKBONE_GROUP: usize = 1;

/// Fine-tuning settings, written to `config.json` with the rest of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct FinetuneConfig {
    /// Start from the weights of this checkpoint (Rust or PyTorch safetensors,
    /// or a `torch.save` file) whose names and shapes match; the rest keep
    /// their fresh initialisation. Prints what was loaded, skipped and newly
    /// initialised.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["load", "resume"])]
    pub init_from: Option<PathBuf>,
    /// Keep these parameters fixed (comma-separated name prefixes, e.g. `conv`
    /// or `conv1,conv2.weight`): no gradient, not in the optimizer.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    pub freeze: Vec<String>,
    /// Re-initialise these parameters after loading (PyTorch's init for the
    /// seed), e.g. `fc` for a new head.
    #[arg(long, value_name = "PREFIX,...", value_delimiter = ',')]
    pub reset: Vec<String>,
    /// Learning rate of the loaded, un-frozen parameters (the backbone); the
    /// reset / newly initialised ones train at --lr.
    #[arg(long, value_name = "LR")]
    pub lr_backbone: Option<f64>,
    /// Remove this key prefix (e.g. `model.` of a PyTorch Lightning checkpoint)
    /// from the checkpoint of --load or --init-from. Without it, a prefix every
    /// key shares is removed when that makes the keys fit the model (a notice
    /// says so). Not saved: the checkpoints this crate writes have none.
    #[serde(skip)]
    #[arg(long, value_name = "PREFIX")]
    pub strip_prefix: Option<String>,
}

impl FinetuneConfig {
    /// Whether any fine-tuning option is set.
    pub(crate) fn is_active(&self) -> bool {
        self.init_from.is_some()
            || !self.freeze.is_empty()
            || !self.reset.is_empty()
            || self.lr_backbone.is_some()
    }

    /// Checks the values a user can set.
    pub fn validate(&self) -> Result<()> {
        if let Some(lr) = self.lr_backbone {
            if !(lr.is_finite() && lr > 0.0) {
                bail!("--lr-backbone must be a positive number, got {lr}");
            }
        }
        Ok(())
    }
}

/// What [`prepare`] did, name by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FinetuneReport {
    /// Parameters whose values came from `--init-from`.
    pub loaded: Vec<String>,
    /// Checkpoint entries not used, with the reason.
    pub skipped: Vec<String>,
    /// Parameters left at (or reset to) their fresh initialisation.
    pub initialised: Vec<String>,
    /// Parameters frozen.
    pub frozen: Vec<String>,
    /// `(group, base learning rate)` of every optimizer group that holds parameters.
    pub lr_groups: Vec<(usize, f64)>,
    /// What reading the checkpoints said (a PyTorch file, a stripped
    /// `module.` prefix, ...), printed by the run.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl FinetuneReport {
    /// A few lines for the console.
    pub fn lines(&self) -> Vec<String> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        vec![
            format!("init-from: loaded {}", list(&self.loaded)),
            format!("init-from: skipped {}", list(&self.skipped)),
            format!("newly initialised {}", list(&self.initialised)),
            format!("frozen {}", list(&self.frozen)),
            format!(
                "learning rates {}",
                self.lr_groups
                    .iter()
                    .map(|(g, lr)| format!(
                        "{}={lr}",
                        if *g == HEAD_GROUP { "head" } else { "backbone" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ]
    }
}

/// Whether `name` starts with one of `prefixes`.
pub fn matches(name: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| name.starts_with(p.as_str()))
}

/// Errors when a prefix selects no parameter (a typo would silently do nothing).
fn check_prefixes(flag: &str, prefixes: &[String], names: &BTreeSet<String>) -> Result<()> {
    for p in prefixes {
        if !names.iter().any(|n| n.starts_with(p.as_str())) {
            bail!(
                "{flag} {p} matches no parameter; the model has {}",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

/// Deep copies of the variables whose names match `prefixes`.
pub(crate) fn snapshot(vs: &nn::VarStore, prefixes: &[String]) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| matches(n, prefixes))
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Copies named values into the variables of `vs` (names must exist, shapes agree).
pub fn restore(vs: &nn::VarStore, values: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, value) in values {
            let mut var = vars[name].shallow_clone();
            var.copy_(value);
        }
    });
}

/// Loads every entry of checkpoint `path` whose name and shape match a
/// variable of `vs`, except the names matching `exclude`. Returns the loaded
/// names and the skipped entries with their reason. A prefix the keys share
/// is removed first ([`checkpoint::read_for_model`]; `strip`: `--strip-prefix`).
///
/// Errors when a matching entry is not a usable float parameter (integer or
/// bool dtype, NaN or infinite values: [`checkpoint::check_tensor_fits`]).
/// The notes of reading the file go to `notes`.
pub(crate) fn load_matching(
    vs: &nn::VarStore,
    path: &Path,
    exclude: &[String],
    strip: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let vars = vs.variables();
    let names: BTreeSet<String> = vars.keys().cloned().collect();
    let read = checkpoint::read_for_model(path, &names, strip)
        .with_context(|| format!("--init-from {}", path.display()))?;
    notes.extend(read.notes);
    let file: BTreeMap<String, Tensor> = read.tensors.into_iter().collect();
    for (name, t) in &file {
        if let Some(v) = vars.get(name) {
            if v.size() == t.size() && !matches(name, exclude) {
                checkpoint::check_tensor_fits(name, t, v)
                    .with_context(|| format!("--init-from {}", path.display()))?;
            }
        }
    }
    let (mut loaded, mut skipped) = (Vec::new(), Vec::new());
    tch::no_grad(|| {
        for (name, t) in &file {
            match vars.get(name) {
                None => skipped.push(format!("{name} (not in this model)")),
                Some(_) if matches(name, exclude) => skipped.push(format!("{name} (--reset)")),
                Some(v) if v.size() != t.size() => skipped.push(format!(
                    "{name} (checkpoint {:?}, model {:?})",
                    t.size(),
                    v.size()
                )),
                Some(v) => {
                    let mut v = v.shallow_clone();
                    v.copy_(t);
                    loaded.push(name.clone());
                }
            }
        }
    });
    // Every entry reset by name (`--reset` of the whole model) is a choice, not a mismatch.
    let all_reset = skipped.iter().all(|s| s.ends_with(" (--reset)"));
    if loaded.is_empty() && !all_reset {
        bail!(
            "--init-from {}: no entry matches this model by name and shape (skipped: {})",
            path.display(),
            skipped.join(", ")
        );
    }
    Ok((loaded, skipped))
}

/// Freezes the variables matching `prefixes`: no gradient, and out of the
/// list the optimizer is built from, so neither the update nor weight decay
/// touches them. Call before building the optimizer. Returns the names.
pub fn freeze(vs: &nn::VarStore, prefixes: &[String]) -> Vec<String> {
    let mut names: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| matches(n, prefixes))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let ptrs: BTreeSet<usize> = names.iter().map(|(_, t)| t.data_ptr() as usize).collect();
    let mut vars = vs
        .variables_
        .lock()
        .expect("the VarStore lock is not poisoned");
    vars.trainable_variables.retain(|v| {
        if ptrs.contains(&(v.tensor.data_ptr() as usize)) {
            let _ = v.tensor.set_requires_grad(false);
            false
        } else {
            true
        }
    });
    names.into_iter().map(|(n, _)| n).collect()
}

/// Puts the trainable variables whose names satisfy `backbone` into
/// [`BACKBONE_GROUP`], the others into [`HEAD_GROUP`]. Call before building
/// the optimizer. Returns the groups that hold variables.
pub fn assign_groups(vs: &nn::VarStore, backbone: impl Fn(&str) -> bool) -> BTreeSet<usize> {
    let backbone_ptrs: BTreeSet<usize> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| backbone(n))
        .map(|(_, t)| t.data_ptr() as usize)
        .collect();
    let mut vars = vs
        .variables_
        .lock()
        .expect("the VarStore lock is not poisoned");
    let mut used = BTreeSet::new();
    for v in vars.trainable_variables.iter_mut() {
        v.group = if backbone_ptrs.contains(&(v.tensor.data_ptr() as usize)) {
            BACKBONE_GROUP
        } else {
            HEAD_GROUP
        };
        used.insert(v.group);
    }
    used
}

/// Applies `cfg` to the freshly built model in `vs`: loads `--init-from`
/// (or, with `load`, a full checkpoint strictly), restores the fresh values of
/// `--reset`, freezes `--freeze` and sorts the trainable parameters into
/// optimizer groups (`lr` for the head, `--lr-backbone` for the rest).
///
/// With `resuming`, `load` is the checkpoint of an interrupted fine-tuning run:
/// it is loaded strictly and nothing is reset or re-loaded; the head group is
/// then what `--reset` names (parameters that were new only because of a
/// shape mismatch get the backbone rate: name the head in `--reset`).
pub fn prepare(
    vs: &mut nn::VarStore,
    cfg: &FinetuneConfig,
    lr: f64,
    load: Option<&Path>,
    resuming: bool,
) -> Result<FinetuneReport> {
    cfg.validate()?;
    let names: BTreeSet<String> = vs.variables().into_keys().collect();
    check_prefixes("--freeze", &cfg.freeze, &names)?;
    check_prefixes("--reset", &cfg.reset, &names)?;
    let fresh = if resuming {
        Vec::new()
    } else {
        snapshot(vs, &cfg.reset)
    };
    let mut report = FinetuneReport::default();
    let mut loaded: BTreeSet<String> = BTreeSet::new();
    if let Some(path) = load {
        report.notes = checkpoint::load_stripping(vs, path, cfg.strip_prefix.as_deref())?;
        loaded.extend(
            names
                .iter()
                .filter(|n| !(resuming && matches(n, &cfg.reset)))
                .cloned(),
        );
    }
    if let (Some(path), false) = (&cfg.init_from, resuming) {
        let strip = cfg.strip_prefix.as_deref();
        let (l, s) = load_matching(vs, path, &cfg.reset, strip, &mut report.notes)?;
        loaded.extend(l.iter().cloned());
        report.skipped = s;
    }
    restore(vs, &fresh);
    for (n, _) in &fresh {
        loaded.remove(n);
    }
    report.loaded = loaded.iter().cloned().collect();
    report.initialised = names.difference(&loaded).cloned().collect();
    report.frozen = freeze(vs, &cfg.freeze);
    let groups = match cfg.lr_backbone {
        Some(_) => assign_groups(vs, |n| loaded.contains(n)),
        None => assign_groups(vs, |_| false),
    };
    report.lr_groups = groups
        .into_iter()
        .map(|g| {
            let rate = if g == BACKBONE_GROUP {
                cfg.lr_backbone.unwrap_or(lr)
            } else {
                lr
            };
            (g, rate)
        })
        .collect();
    Ok(report)
}

/// Sets each group's learning rate (after the optimizer is built).
pub fn set_group_lrs(opt: &mut crate::optim::Optimizer, lr_groups: &[(usize, f64)]) {
    for &(g, lr) in lr_groups {
        opt.set_lr(g, lr);
    }
}
