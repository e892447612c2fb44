//! Checkpoints: a VarStore as safetensors (keys = PyTorch `state_dict` keys),
//! written atomically, with the run's configuration as `config.json` beside it.
//!
//! PyTorch reads them with `model.load_state_dict(safetensors.torch.load_file(path))`
//! and writes them with `safetensors.torch.save_file(model.state_dict(), path)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{nn, Device, Tensor};

/// Where the configuration of checkpoint `path` lives: `config.json` in the same folder.
pub fn config_path(path: &Path) -> PathBuf {
    path.with_file_name("config.json")
}

/// Writes `bytes`-producing `write` to `path` atomically: into a temporary file
/// in the same folder, then renamed over `path`, so a crash never leaves a
/// half-written file where a good one was.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let file_name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot serialise JSON")?;
    write_atomic(path, |tmp| {
        std::fs::write(tmp, text + "\n").with_context(|| format!("cannot write {}", path.display()))
    })
}

/// Reads the `config.json` beside checkpoint `path`, if there is one.
pub fn read_config<C: DeserializeOwned>(path: &Path) -> Result<Option<C>> {
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

/// Reads a safetensors file into named tensors.
pub fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        bail!("checkpoint {} not found", path.display());
    }
    Tensor::read_safetensors(path).with_context(|| {
        format!(
            "cannot read checkpoint {}: not a safetensors file?",
            path.display()
        )
    })
}

/// Loads checkpoint `path` into `vs`. Every variable must be present with its
/// shape and nothing else may be in the file; otherwise the error lists the
/// missing, unexpected and mis-shaped names.
pub fn load(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    let file: BTreeMap<String, Tensor> = read(path)?.into_iter().collect();
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut problems = Vec::new();
    for (name, var) in &vars {
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
    for (name, t) in &file {
        if !vars.contains_key(name) {
            problems.push(format!("unexpected {name} {:?}", t.size()));
        }
    }
    if !problems.is_empty() {
        bail!(
            "checkpoint {} does not fit this model (another model or other sizes?):\n  {}",
            path.display(),
            problems.join("\n  ")
        );
    }
    tch::no_grad(|| {
        for (name, var) in &vars {
            let mut var = var.shallow_clone();
            var.copy_(&file[name]);
        }
    });
    Ok(())
}
