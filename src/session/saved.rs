//! The configuration a run takes from the checkpoints it names: each
//! `config.json` is read once ([`resolve`]) and reconciled with this run's
//! configuration generically, section by section ([`super::config::Sections`]),
//! through serde.
//!
//! - `--resume`: the saved configuration is the run's (a PyTorch training
//!   checkpoint has none: then the flags are).
//! - `--load` (with or without `--eval-only`): the `model` and `inputs`
//!   settings come from `config.json` unless their flags are given; a given
//!   flag that contradicts it is an error naming the flag and both values
//!   (one the checkpoint left unset, `null`, stands).
//!   A difference under `data` is a note. Without a `config.json` (a PyTorch
//!   checkpoint) the flags rule.
//! - `--init-from` (a new task on pre-trained weights): the flags rule; the
//!   run says which `inputs` settings differ.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::{RunOptions, TaskConfig};
use crate::checkpoint;
use crate::cli::Flags;
use crate::train::Progress;

/// The run's configuration: `cfg` (this run's flags) with what the
/// checkpoints of `--resume`, `--load` and `--init-from` fix, each
/// `config.json` read once.
///
/// # Errors
/// An unreadable or invalid `config.json`; a given flag that contradicts
/// `--load`'s; a `--resume` checkpoint without `config.json` that is no
/// PyTorch training checkpoint (or one without `--save`).
pub fn resolve<C: TaskConfig>(cfg: &C, opts: &RunOptions, progress: Progress) -> Result<C> {
    if let Some(path) = &opts.resume {
        return resume_config(path, cfg, opts);
    }
    let mut cfg = cfg.clone();
    if let Some(path) = &opts.load {
        if let Some(saved) = Saved::read::<C>(path, progress)? {
            cfg = adopt(&cfg, &saved, &opts.given, progress)?;
        }
    }
    if let Some(path) = cfg.run().tune.finetune.init_from.clone() {
        if let Some(saved) = Saved::read::<C>(&path, progress)? {
            let ours = to_json(&cfg)?;
            for d in differences(&ours, &saved.json, C::SECTIONS.inputs) {
                if opts.given.has_flag(&d.id) {
                    progress.line(format!(
                        "note: {} was trained with {flag} {}; this run uses {} (--init-from: the flags rule)",
                        path.display(),
                        d.theirs,
                        d.ours,
                        flag = opts.given.name(&d.id)
                    ));
                }
            }
        }
    }
    Ok(cfg)
}

/// A checkpoint's `config.json`, upgraded to this version's shape and
/// normalised through the example's configuration type.
struct Saved {
    /// The `config.json` file.
    path: PathBuf,
    /// Its settings, as this version writes them.
    json: Map<String, Value>,
}

impl Saved {
    /// Reads the `config.json` beside `checkpoint`, if there is one; notes
    /// its top-level keys that are no setting of this example (ignored).
    fn read<C: TaskConfig>(checkpoint: &Path, progress: Progress) -> Result<Option<Self>> {
        let path = checkpoint::config_path(checkpoint);
        let Some((raw, cfg)) = read_upgraded::<C>(checkpoint)? else {
            return Ok(None);
        };
        let json = to_json(&cfg)?;
        if let Value::Object(raw) = &raw {
            for key in raw.keys().filter(|k| !json.contains_key(*k)) {
                progress.line(format!(
                    "note: {}: `{key}` is no setting of this example; ignored",
                    path.display()
                ));
            }
        }
        Ok(Some(Self { path, json }))
    }
}

/// The `config.json` beside `checkpoint`, if there is one: as written
/// (upgraded to this version's shape by [`TaskConfig::upgrade`]) and read as `C`.
fn read_upgraded<C: TaskConfig>(checkpoint: &Path) -> Result<Option<(Value, C)>> {
    let Some(mut raw) = checkpoint::read_config::<Value>(checkpoint)? else {
        return Ok(None);
    };
    C::upgrade(&mut raw);
    let cfg = serde_json::from_value(raw.clone()).with_context(|| {
        format!(
            "{} is not a configuration of this example",
            checkpoint::config_path(checkpoint).display()
        )
    })?;
    Ok(Some((raw, cfg)))
}

/// `cfg` with `saved`'s `model` and `inputs` settings where their flags are
/// not given (see the module documentation).
fn adopt<C: TaskConfig>(cfg: &C, saved: &Saved, given: &Flags, progress: Progress) -> Result<C> {
    let config = saved.path.display();
    let mut ours = to_json(cfg)?;
    let mut model_adopted = false;
    let mut contradictions = Vec::new();
    for (keys, is_model) in [(C::SECTIONS.model, true), (C::SECTIONS.inputs, false)] {
        for d in differences(&ours, &saved.json, keys) {
            let flag = given.name(&d.id);
            if given.given(&d.id) && d.saved_value.is_null() {
                continue; // the checkpoint left it unset (no --class-names): the flag stands
            }
            if given.given(&d.id) {
                contradictions.push(if is_model {
                    format!(
                        "{config} was saved with model options {id} = {}, but this run has {id} = {} \
                         from {flag} (drop {flag} to use the checkpoint's, or load another checkpoint)",
                        d.theirs,
                        d.ours,
                        id = d.id
                    )
                } else {
                    format!(
                        "{flag} {} contradicts the checkpoint: {config} says {flag} {} \
                         (drop {flag} to use the checkpoint's setting)",
                        d.ours, d.theirs
                    )
                });
                continue;
            }
            if is_model {
                model_adopted = true;
            } else if given.has_flag(&d.id) {
                progress.line(format!(
                    "{flag} {} (from {config}; this run's default was {})",
                    d.theirs, d.ours
                ));
            }
            set(&mut ours, &d.pointer, d.saved_value.clone());
        }
    }
    if !contradictions.is_empty() {
        bail!("{}", contradictions.join("; "));
    }
    if model_adopted {
        progress.line(format!("model options from {config}"));
    }
    let data: Vec<String> = differences(&ours, &saved.json, C::SECTIONS.data)
        .iter()
        .map(|d| format!("{} {} there, {} here", given.name(&d.id), d.theirs, d.ours))
        .collect();
    if !data.is_empty() {
        progress.line(format!(
            "note: {config}: the model was trained on other data ({}); its saved inputs settings are used",
            data.join(", ")
        ));
    }
    serde_json::from_value(Value::Object(ours))
        .with_context(|| format!("the settings of {config} do not fit this run"))
}

/// One setting whose value differs between this run and a saved configuration.
struct Difference {
    /// The setting's key (its flag's clap id).
    id: String,
    /// JSON pointer of the setting (`/model/cell`).
    pointer: String,
    /// This run's value, as a flag takes it.
    ours: String,
    /// The saved value, as a flag takes it.
    theirs: String,
    /// The saved value.
    saved_value: Value,
}

/// The settings under the top-level `keys` whose values differ, leaf by leaf.
fn differences(
    ours: &Map<String, Value>,
    theirs: &Map<String, Value>,
    keys: &[&str],
) -> Vec<Difference> {
    let mut out = Vec::new();
    for key in keys {
        let (a, b) = (
            ours.get(*key).unwrap_or(&Value::Null),
            theirs.get(*key).unwrap_or(&Value::Null),
        );
        leaf_differences(key, &format!("/{key}"), a, b, &mut out);
    }
    out
}

fn leaf_differences(key: &str, pointer: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        for (k, bv) in b {
            let av = a.get(k).unwrap_or(&Value::Null);
            leaf_differences(k, &format!("{pointer}/{k}"), av, bv, out);
        }
        return;
    }
    if a != b {
        out.push(Difference {
            id: key.to_string(),
            pointer: pointer.to_string(),
            ours: show(a),
            theirs: show(b),
            saved_value: b.clone(),
        });
    }
}

/// A JSON value as a flag takes it: strings bare, lists comma-separated, `null` as `none`.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Sets the value at JSON pointer `pointer` (`/model/cell`) of `json`,
/// inserting the last key when its parent object lacks it.
fn set(json: &mut Map<String, Value>, pointer: &str, value: Value) {
    let mut root = Value::Object(std::mem::take(json));
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = root.pointer_mut(parent) {
        map.insert(key.to_string(), value);
    }
    if let Value::Object(map) = root {
        *json = map;
    }
}

fn to_json<C: serde::Serialize>(cfg: &C) -> Result<Map<String, Value>> {
    match serde_json::to_value(cfg).context("the configuration does not serialize")? {
        Value::Object(map) => Ok(map),
        _ => bail!("a configuration serializes to a JSON object"),
    }
}

/// The configuration of `--resume`'s checkpoint: its `config.json`, or the
/// flags' `cfg` for a PyTorch training checkpoint (which carries none).
///
/// # Errors
/// A checkpoint with neither `config.json` nor the entries of a PyTorch
/// training checkpoint; a PyTorch one without `--save` (the Rust run's
/// checkpoints never go over the PyTorch file).
fn resume_config<C: TaskConfig>(path: &Path, cfg: &C, opts: &RunOptions) -> Result<C> {
    if let Some((_, saved)) = read_upgraded::<C>(path)? {
        return Ok(saved);
    }
    let config = checkpoint::config_path(path);
    if !checkpoint::is_torch_file(path)? {
        bail!(
            "cannot resume from {}: {} is missing (a resumable checkpoint has its config.json beside it)",
            path.display(),
            config.display()
        );
    }
    checkpoint::read_training_state(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot resume from {}: no {} beside it, and as a PyTorch training checkpoint: {e:#}",
            path.display(),
            config.display()
        )
    })?;
    if opts.save.is_none() {
        bail!(
            "--resume {} is a PyTorch training checkpoint: add --save PATH for this run's \
             checkpoints (they are safetensors and never overwrite the PyTorch file)",
            path.display()
        );
    }
    Ok(cfg.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn differences_are_leaves_named_by_their_key_and_set_back_by_pointer() {
        let ours =
            map(json!({"model": {"cell": "rnn", "hidden": 10}, "scaler": null, "digits": [0, 1]}));
        let theirs = map(json!({"model": {"cell": "gru", "hidden": 10, "layers": 2},
                                "scaler": {"mean": 1.5}, "digits": [5, 6]}));
        let d = differences(&ours, &theirs, &["model", "scaler", "digits"]);
        let found: Vec<(&str, &str, &str, &str)> = d
            .iter()
            .map(|d| {
                (
                    d.id.as_str(),
                    d.pointer.as_str(),
                    d.ours.as_str(),
                    d.theirs.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("cell", "/model/cell", "rnn", "gru"),
                ("layers", "/model/layers", "none", "2"),
                ("scaler", "/scaler", "none", "{\"mean\":1.5}"),
                ("digits", "/digits", "0,1", "5,6"),
            ]
        );
        let mut adopted = ours.clone();
        for x in &d {
            set(&mut adopted, &x.pointer, x.saved_value.clone());
        }
        assert_eq!(
            Value::Object(adopted),
            Value::Object(theirs),
            "a key ours lacked is inserted"
        );
    }
}
