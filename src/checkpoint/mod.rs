//! Checkpoints: a VarStore as safetensors (keys = PyTorch `state_dict` keys),
//! written atomically ([`crate::io::write_atomic`]), with the run's
//! configuration as `config.json` beside it.
//!
//! PyTorch reads them with `model.load_state_dict(safetensors.torch.load_file(path))`
//! and writes them with `safetensors.torch.save_file(model.state_dict(), path)`.
//!
//! Reading ([`read_checkpoint`], behind every `--load`, `--init-from` and
//! `--resume`) also takes what PyTorch users have: `torch.save` files of a
//! state_dict or of a training-checkpoint dict holding one, told apart by their
//! content, never by their name (`format.rs`, `torch_file.rs`). Wrapper prefixes
//! of DataParallel and `torch.compile` are stripped, and so is the prefix of the
//! module that held the model (`model.` of Lightning, or `--strip-prefix`) when
//! reading for a model (`prefix.rs`); a float
//! parameter stored as integers or holding NaN/inf is refused when the model's
//! variables are filled (`validate.rs`). [`read_training_state`] reads the
//! optimizer state and epoch of a PyTorch training checkpoint.

mod format;
mod prefix;
mod torch_file;
mod validate;

pub use torch_file::{is_torchscript, read_training_state, TorchTrainingState};
pub use validate::{check_tensor_fits, torch_dtype};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{nn, Device, Tensor};

use crate::io::{write_atomic, write_json};

/// Where the configuration of checkpoint `path` lives: `config.json` in the same folder.
pub fn config_path(path: &Path) -> PathBuf {
    path.with_file_name("config.json")
}

/// Named tensors, sorted by name, on the CPU and contiguous (as safetensors wants).
pub fn named_tensors(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    vars.into_iter()
        .map(|(k, v)| (k, v.detach().to_device(Device::Cpu).contiguous()))
        .collect()
}

/// Saves every variable of `vs` to `path` (safetensors), atomically.
pub fn save(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let tensors = named_tensors(vs);
    write_atomic(path, |tmp| {
        Tensor::write_safetensors(&tensors, tmp)
            .with_context(|| format!("cannot write checkpoint {}", path.display()))
    })
}

/// Saves `vs` to `path` and `config` to `config.json` beside it.
pub fn save_with_config<C: Serialize>(vs: &nn::VarStore, path: &Path, config: &C) -> Result<()> {
    save(vs, path)?;
    write_json(&config_path(path), config)
}

/// Where the optimizer state of checkpoint `path` lives: `optimizer.safetensors`
/// (the tensors of PyTorch's `optimizer.state_dict()["state"]`, named
/// `state.{i}.exp_avg`, `state.{i}.exp_avg_sq`, `state.{i}.step`,
/// `state.{i}.momentum_buffer`) and `optimizer.json` (`{"param_groups": [...]}`,
/// with `params` indices in the model's parameter order) in the same folder.
pub fn optimizer_paths(path: &Path) -> (PathBuf, PathBuf) {
    (
        path.with_file_name("optimizer.safetensors"),
        path.with_file_name("optimizer.json"),
    )
}

/// An optimizer state as its files hold it: the tensors by name, sorted, and
/// `param_groups` (the two parts of the `optim` module's `OptimizerState`).
pub(crate) type SavedOptimizer = (Vec<(String, Tensor)>, serde_json::Value);

/// Writes an optimizer state beside checkpoint `path` ([`optimizer_paths`]),
/// each file atomically. `parity/optimizer_state.py` turns the two files into
/// the dict PyTorch's `optimizer.load_state_dict` takes, and back.
///
/// # Errors
/// An I/O error naming the file.
pub fn save_optimizer_state(
    path: &Path,
    tensors: &[(String, Tensor)],
    param_groups: &serde_json::Value,
) -> Result<()> {
    let (st, json) = optimizer_paths(path);
    let tensors: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    write_atomic(&st, |tmp| {
        Tensor::write_safetensors(&tensors, tmp)
            .with_context(|| format!("cannot write optimizer state {}", st.display()))
    })?;
    write_json(&json, &serde_json::json!({ "param_groups": param_groups }))
}

/// Reads the optimizer state beside checkpoint `path` ([`optimizer_paths`]):
/// `None` when neither file is there (a checkpoint of weights only).
///
/// # Errors
/// One of the two files missing (naming it), unreadable, or an
/// `optimizer.json` without `param_groups`.
pub fn read_optimizer_state(path: &Path) -> Result<Option<SavedOptimizer>> {
    let (st, json) = optimizer_paths(path);
    match (st.exists(), json.exists()) {
        (false, false) => return Ok(None),
        (true, false) => bail!(
            "{} is there but {} is missing",
            st.display(),
            json.display()
        ),
        (false, true) => bail!(
            "{} is there but {} is missing",
            json.display(),
            st.display()
        ),
        (true, true) => {}
    }
    let mut tensors = Tensor::read_safetensors(&st)
        .with_context(|| format!("cannot read optimizer state {}", st.display()))?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("cannot read {}", json.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", json.display()))?;
    let Some(groups) = value.get_mut("param_groups").map(serde_json::Value::take) else {
        bail!("{} has no `param_groups`", json.display());
    };
    Ok(Some((tensors, groups)))
}

/// Whether `path` is a PyTorch `torch.save` file (zip, or the pre-1.6
/// formats), told by its content.
///
/// # Errors
/// A missing file, a folder, or an unreadable one (naming it).
pub(crate) fn is_torch_file(path: &Path) -> Result<bool> {
    Ok(matches!(
        format::sniff(path)?,
        format::Container::TorchZip | format::Container::TorchLegacy(_)
    ))
}

/// The PyTorch training checkpoint `--resume` names, when it is one: a
/// `torch.save` file without a `config.json` beside it (a Rust checkpoint has
/// one), read by [`read_training_state`]. `None`: a Rust checkpoint.
///
/// # Errors
/// A PyTorch file that is no training checkpoint (no optimizer state, no
/// `epoch`), naming what is missing.
pub(crate) fn torch_training_checkpoint(path: &Path) -> Result<Option<TorchTrainingState>> {
    if config_path(path).exists() || !is_torch_file(path)? {
        return Ok(None);
    }
    read_training_state(path).map(Some)
}

/// Reads the `config.json` beside checkpoint `path`, if there is one.
pub(crate) fn read_config<C: DeserializeOwned>(path: &Path) -> Result<Option<C>> {
    let cfg = config_path(path);
    if !cfg.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&cfg).with_context(|| format!("cannot read {}", cfg.display()))?;
    let value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", cfg.display()))?;
    Ok(Some(value))
}

/// The kind of file a checkpoint was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// safetensors: what this crate writes, and `safetensors.torch.save_file`.
    Safetensors,
    /// PyTorch's `torch.save` zip archive (PyTorch >= 1.6, the default since).
    /// `dict_key` names the entry of a dict that held the state_dict
    /// (`model_state_dict` of a training checkpoint); `None`: the file is the state_dict.
    TorchZip { dict_key: Option<String> },
    /// PyTorch's pre-1.6 `torch.save` formats (the legacy pickle stream of
    /// `_use_new_zipfile_serialization=False`, or the TAR of PyTorch < 0.1.10);
    /// `dict_key` as for [`CheckpointFormat::TorchZip`].
    TorchLegacy { dict_key: Option<String> },
}

/// A checkpoint as read: its tensors, what it was, and what was done to it.
#[derive(Debug)]
pub struct LoadedCheckpoint {
    /// Named tensors sorted by name, on the CPU, in the dtype the file stored
    /// (loading converts them to each variable's kind).
    pub tensors: Vec<(String, Tensor)>,
    /// The kind of file.
    pub format: CheckpointFormat,
    /// One line each, for the console: what was read when it was not a plain
    /// safetensors file ("read the state_dict under `model_state_dict` of a
    /// training checkpoint; ignored: epoch, loss, optimizer_state_dict") and
    /// which wrapper prefixes were stripped.
    pub notes: Vec<String>,
}

/// Reads checkpoint `path`, whatever its name, by its content: safetensors, or
/// a PyTorch `torch.save` file (zip, or pre-1.6) holding a state_dict or a dict
/// with one under `state_dict`, `model_state_dict`, `model` or `net`.
/// PyTorch files are read without running any code, as
/// `torch.load(weights_only=True)` guarantees. When every key starts with
/// `module.` (DataParallel) and/or `_orig_mod.` (`torch.compile`), the prefixes
/// are stripped and a note says so.
///
/// Errors, one line naming the file (plus two lines of Python where a
/// conversion helps): missing file or a folder; a whole pickled module
/// (`torch.save(model)`) or a TorchScript archive; a dict with no state_dict;
/// anything else, described by its first bytes.
pub fn read_checkpoint(path: &Path) -> Result<LoadedCheckpoint> {
    let container = format::sniff(path)?;
    let (mut tensors, format, mut notes) = match container {
        format::Container::Safetensors => {
            let tensors = Tensor::read_safetensors(path).with_context(|| {
                format!("cannot read safetensors checkpoint {}", path.display())
            })?;
            (tensors, CheckpointFormat::Safetensors, Vec::new())
        }
        format::Container::TorchZip | format::Container::TorchLegacy(_) => {
            let read = torch_file::read(path, &container)?;
            let note = read.note(&container);
            let format = match container {
                format::Container::TorchZip => CheckpointFormat::TorchZip {
                    dict_key: read.dict_key,
                },
                _ => CheckpointFormat::TorchLegacy {
                    dict_key: read.dict_key,
                },
            };
            (read.tensors, format, vec![note])
        }
    };
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    notes.extend(prefix::strip_wrapper_prefixes(&mut tensors));
    Ok(LoadedCheckpoint {
        tensors,
        format,
        notes,
    })
}

/// Reads checkpoint `path` (any format [`read_checkpoint`] takes) into named
/// tensors sorted by name.
pub fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Ok(read_checkpoint(path)?.tensors)
}

/// Loads checkpoint `path` into `vs`. Every variable must be present with its
/// shape and nothing else may be in the file; otherwise the error lists the
/// missing, unexpected and mis-shaped names. Float variables refuse integer,
/// bool, NaN and infinite values ([`check_tensor_fits`]); F16, BF16 and F64
/// values are converted to each variable's kind.
pub fn load(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    load_with_notes(vs, path).map(|_notes| ())
}

/// [`load`], returning the notes of [`read_checkpoint`] (one line each) for
/// the console.
pub fn load_with_notes(vs: &mut nn::VarStore, path: &Path) -> Result<Vec<String>> {
    load_stripping(vs, path, None)
}

/// Reads checkpoint `path` for the model whose variables are `model`: as
/// [`read_checkpoint`], then with the prefix of the module that held the
/// model removed (`model.` of a Lightning checkpoint, or `strip`, the
/// `--strip-prefix` flag), a note saying so.
///
/// # Errors
/// Those of [`read_checkpoint`]; `strip` starts no key; an int8 checkpoint of
/// `--save-quantized` (run, not trained: [`crate::quantize::load`] reads it).
pub fn read_for_model(
    path: &Path,
    model: &BTreeSet<String>,
    strip: Option<&str>,
) -> Result<LoadedCheckpoint> {
    let read = read_checkpoint(path)?;
    if crate::quantize::file::is_int8(&read.tensors) {
        bail!(
            "checkpoint {} holds int8 weights (--save-quantized), for inference only: use it with \
             --eval-only, --predict, --forecast or --generate, or train from its float checkpoint",
            path.display()
        );
    }
    fit_to_model(path, read, model, strip)
}

/// `read` with the prefix of the module that held the model removed (see
/// [`read_for_model`]).
fn fit_to_model(
    path: &Path,
    mut read: LoadedCheckpoint,
    model: &BTreeSet<String>,
    strip: Option<&str>,
) -> Result<LoadedCheckpoint> {
    let note = prefix::fit_to_model(&mut read.tensors, model, strip)
        .with_context(|| format!("checkpoint {}", path.display()))?;
    read.notes.extend(note);
    read.tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(read)
}

/// [`load_with_notes`] after removing the prefix [`read_for_model`] finds or
/// `strip` names. A misfit's error starts with one line saying which prefix
/// or which layers differ, then lists the names.
pub(crate) fn load_stripping(
    vs: &mut nn::VarStore,
    path: &Path,
    strip: Option<&str>,
) -> Result<Vec<String>> {
    let names: BTreeSet<String> = vs.variables().into_keys().collect();
    let read = read_for_model(path, &names, strip)?;
    fill(vs, path, read)
}

/// Loads the tensors `read` of checkpoint `path` (already read, any kind;
/// an int8 checkpoint's dequantized, see [`crate::quantize::load`]) into `vs`
/// as [`load_stripping`] does; returns the notes.
pub(crate) fn load_read(
    vs: &mut nn::VarStore,
    path: &Path,
    read: LoadedCheckpoint,
    strip: Option<&str>,
) -> Result<Vec<String>> {
    let names: BTreeSet<String> = vs.variables().into_keys().collect();
    let read = fit_to_model(path, read, &names, strip)?;
    fill(vs, path, read)
}

/// Copies `read`'s tensors into `vs`'s variables, every one present with its
/// shape and nothing else in the file; returns the notes.
fn fill(vs: &mut nn::VarStore, path: &Path, read: LoadedCheckpoint) -> Result<Vec<String>> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let names: BTreeSet<String> = vars.keys().cloned().collect();
    let LoadedCheckpoint { tensors, notes, .. } = read;
    let file: BTreeMap<String, Tensor> = tensors.into_iter().collect();
    let mismatches = mismatches(&file, &vars);
    if !mismatches.is_empty() {
        let reshaped: Vec<String> = file
            .iter()
            .filter(|(n, t)| vars.get(*n).is_some_and(|v| v.size() != t.size()))
            .map(|(n, _)| n.clone())
            .collect();
        let keys: BTreeSet<String> = file.keys().cloned().collect();
        let stripped = match notes.last() {
            Some(n) if n.starts_with("stripped") => format!(" ({n})"),
            _ => String::new(),
        };
        bail!(
            "checkpoint {} does not fit this model{stripped}: {}\n  {}",
            path.display(),
            prefix::describe_misfit(&keys, &names, &reshaped),
            mismatches.join("\n  ")
        );
    }
    let refused: Vec<String> = vars
        .iter()
        .filter_map(|(name, var)| check_tensor_fits(name, &file[name], var).err())
        .map(|e| format!("{e:#}"))
        .collect();
    match refused.as_slice() {
        [] => {}
        [one] => bail!("checkpoint {} is refused: {one}", path.display()),
        many => bail!(
            "checkpoint {} is refused:\n  {}",
            path.display(),
            many.join("\n  ")
        ),
    }
    tch::no_grad(|| -> Result<()> {
        for (name, var) in &vars {
            let mut var = var.shallow_clone();
            var.f_copy_(&file[name])
                .with_context(|| format!("cannot copy {name} of {}", path.display()))?;
        }
        Ok(())
    })?;
    Ok(notes)
}

/// Missing, unexpected and mis-shaped names between a file and the variables.
fn mismatches(file: &BTreeMap<String, Tensor>, vars: &BTreeMap<String, Tensor>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, var) in vars {
        match file.get(name) {
            None => problems.push(format!("missing {name} {:?}", var.size())),
            Some(t) if t.size() != var.size() => problems.push(format!(
                "{name}: checkpoint has {:?}, model expects {:?}",
                t.size(),
                var.size()
            )),
            Some(_) => {}
        }
    }
    for (name, t) in file {
        if !vars.contains_key(name) {
            problems.push(format!("unexpected {name} {:?}", t.size()));
        }
    }
    problems
}
